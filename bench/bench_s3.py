"""The shared-bucket tier (docs/scale-out.md) measured: a file's first hit on a fresh
node, read from the bucket (SeaweedFS on 127.0.0.1), next to local-disk hits of the
same files. Standalone, or called by bench.py (`run(work, smoke)` returns the table).

    python3 bench/bench_s3.py [--smoke] [--binary PATH]

Node A fetches every wheel of the corpus from the fake upstream and uploads it; then
the upstream is stopped and node B, on an empty disk, is asked for every page and file
twice: the first time each comes from the bucket (HEAD, GET streamed while hashed and
written locally), the second from its local disk. Sequential requests, one client,
so the figures are per-request costs, not the server's peak throughput.
"""
import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import corpus as corpus_module  # noqa: E402
import seaweed  # noqa: E402
from harness import FakeUpstream, Server, wait_until  # noqa: E402


def start_node(binary, work, name, upstream_url, endpoint, bucket):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=seaweed.ACCESS_KEY, AWS_SECRET_ACCESS_KEY=seaweed.SECRET_KEY)
    node = Server([binary, "serve", "--host", "127.0.0.1", "--port", "0", "--data-dir", os.path.join(work, f"data-{name}"),
                   "--upstream", upstream_url, "--s3-endpoint", endpoint, "--s3-bucket", bucket, "--log-level", "warning"],
                  os.path.join(work, f"node-{name}.log"), r"event=listening .*port=(\d+)", env=env)
    node.url = f"http://127.0.0.1:{node.port}"
    return node


def get(url):
    with urllib.request.urlopen(url, timeout=120) as r:
        body = r.read()
        return r.headers.get("X-Cache"), body


def shared(node):
    return json.loads(get(f"{node.url}/+status")[1])["result"]["shared-store"]


def timed_pass(node, urls):
    """Seconds and bytes for fetching every URL once, in order."""
    started, total = time.perf_counter(), 0
    for url in urls:
        total += len(get(url)[1])
    return time.perf_counter() - started, total


def run(work, binary, smoke=False):
    corpus_dir = os.path.join(work, "corpus")
    index = corpus_module.build(corpus_dir, big_wheel_mb=4 if smoke else 50)
    store = seaweed.SeaweedFS(os.path.join(work, "seaweed"), os.path.join(work, "weed.log"))
    nodes = []
    try:
        store.create_bucket("bench")
        up = FakeUpstream(corpus_dir, os.path.join(work, "upstream.log"))
        a = start_node(binary, work, "a", up.url, store.endpoint, "bench")
        nodes.append(a)
        pages = [f"/root/pypi/+simple/{project}/" for project in index]
        small, big = [], []
        for files in index.values():
            for entry in files:
                if not entry["filename"].endswith(".whl"):
                    continue
                h = entry["sha256"]
                path = f"/root/pypi/+f/{h[:3]}/{h[3:16]}/{entry['filename']}"
                (big if entry["size"] > 1 << 20 else small).append(path)
        for path in pages + small + big:
            get(a.url + path)
        assert wait_until(lambda: shared(a)["pending-uploads"] == 0, timeout=120), shared(a)
        up.stop()

        b = start_node(binary, work, "b", up.url, store.endpoint, "bench")
        nodes.append(b)
        rows = []
        for label, paths in (("project pages", pages), (f"{len(small)} small wheels", small), ("big wheel", big)):
            first = timed_pass(b, [b.url + p for p in paths])
            second = timed_pass(b, [b.url + p for p in paths])
            rows.append((label, len(paths), first, second))
        assert shared(b)["files-fetched"] == len(small) + len(big), shared(b)
        return rows
    finally:
        for node in nodes:
            node.stop()
        store.stop()


def table(rows):
    lines = ["| what (node B, empty disk, upstream gone) | requests | first hit: bucket tier | second hit: local disk |",
             "| --- | ---: | ---: | ---: |"]
    for label, count, (t1, bytes1), (t2, _) in rows:
        def cell(seconds):
            per = f"{seconds / count * 1000:.2f} ms/request"
            return per if bytes1 < 1 << 20 else f"{per}, {bytes1 / seconds / (1 << 20):.0f} MB/s"
        size = f"{bytes1 / 1024:.0f} KB" if bytes1 < 1 << 20 else f"{bytes1 / (1 << 20):.1f} MB"
        lines.append(f"| {label} ({size}) | {count} | {cell(t1)} | {cell(t2)} |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--smoke", action="store_true", help="a small corpus (a 4 MB big wheel)")
    p.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "wheelhouse"))
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="wheelhouse-bench-s3-") as work:
        text = table(run(work, os.path.abspath(args.binary), args.smoke))
    print(text)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "s3-smoke.md" if args.smoke else "s3.md"), "w") as f:
        f.write(text + "\n")


if __name__ == "__main__":
    main()
