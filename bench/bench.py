"""wheelhouse benchmark: wheelhouse against nginx (static files: the reference
for serving a cached file; and as a caching proxy) and devpi-server, measured
side by side in one run, on 127.0.0.1 only.

    python3 bench/bench.py [--smoke] [--duration SECONDS] [--no-devpi]

Prints one table, writes it to bench/results/, and (full runs) replaces the
table in docs/performance.md. Every request loop is bounded in count and time.
"""
import argparse
import concurrent.futures
import datetime
import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import corpus as corpus_module  # noqa: E402
from harness import FakeUpstream, Wheelhouse  # noqa: E402
from servers import Devpi, NginxProxy, NginxStatic, WheelhouseUnderTest, usage, wait_http  # noqa: E402

JSON = "application/vnd.pypi.simple.v1+json"
PIP_PROJECTS = ["alpha", "beta", "gamma", "delta", "Epsilon_Pkg", "zeta", "eta", "theta", "iota", "kappa",
                "lambda-pkg", "mu"]


class Table:
    def __init__(self, columns, reference):
        self.columns = columns
        self.reference = reference
        self.rows = []

    def add(self, section, measure, values, higher_is_better=True, unit=""):
        """values: {column: number or None}. The ratio compares wheelhouse with the reference."""
        ref = values.get(self.reference)
        own = values.get("wheelhouse")
        ratio = ""
        if ref and own is not None and ref != 0:
            ratio = f"{own / ref:.2f}x"
        self.rows.append((section, measure, values, ratio, unit))

    def markdown(self):
        head = "| | measure | " + " | ".join(self.columns) + " | wheelhouse / reference |"
        sep = "|" + "---|" * (len(self.columns) + 3)
        lines = [head, sep]
        for section, measure, values, ratio, unit in self.rows:
            cells = [fmt(values.get(c), unit) for c in self.columns]
            lines.append(f"| {section} | {measure} | " + " | ".join(cells) + f" | {ratio} |")
        return "\n".join(lines)


def fmt(v, unit):
    if v is None:
        return "–"
    if isinstance(v, str):
        return v
    if abs(v) >= 100:
        return f"{v:,.0f}{unit}"
    return f"{v:.2f}{unit}" if abs(v) < 10 else f"{v:.1f}{unit}"


# ---------------------------------------------------------------- load tools

def wrk(url, connections, duration, headers=()):
    """Requests/s, MB/s, p50 ms, p99 ms from one bounded wrk run."""
    cmd = ["wrk", "-t", str(min(2, connections)), "-c", str(connections), "-d", f"{duration}s",
           "--timeout", "10s", "--latency"]
    for h in headers:
        cmd += ["-H", h]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=duration + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    m = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    scale = {"B": 1e-6, "KB": 1e-3, "MB": 1, "GB": 1e3}.get(m.group(2), 1)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"wrk saw {errors.group(1)} error responses from {url}")
    return {"rps": rps, "mbps": float(m.group(1)) * scale,
            "p50": latency(out, "50%"), "p99": latency(out, "99%")}


def latency(out, pct):
    m = re.search(rf"^\s+{re.escape(pct)}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    if not m:
        return None
    return float(m.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[m.group(2)]


def pip_download(index_url, dest, projects, timeout=900):
    env = dict(os.environ, PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    shutil.rmtree(dest, ignore_errors=True)
    started = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir", "--only-binary", ":all:",
                        "--index-url", index_url, "-d", dest, *projects], capture_output=True, text=True,
                       timeout=timeout, env=env)
    seconds = time.monotonic() - started
    if r.returncode != 0:
        raise RuntimeError(f"pip download via {index_url} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return seconds


def file_link(page_url, filename):
    """The absolute URL a server's HTML page gives for `filename`."""
    req = urllib.request.Request(page_url, headers={"Accept": "text/html"})
    with urllib.request.urlopen(req, timeout=60) as r:
        html = r.read().decode()
        final = r.geturl()
    m = re.search(r'href="([^"]*' + re.escape(filename) + r')(?:#[^"]*)?"', html)
    if not m:
        raise RuntimeError(f"{filename} not on {page_url}")
    return urllib.parse.urljoin(final, m.group(1).replace("&amp;", "&"))


def fetch(url):
    started = time.monotonic()
    h = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=300) as r:
        while True:
            chunk = r.read(1 << 20)
            if not chunk:
                break
            h.update(chunk)
    return time.monotonic() - started, h.hexdigest()


def coalescing(url, clients=20):
    """Wall time for `clients` concurrent cold GETs of one file, and whether all got identical bytes."""
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(lambda _: fetch(url), range(clients)))
    return time.monotonic() - started, {h for _, h in results}


# ---------------------------------------------------------------- scenarios

def measure_proxy(kind, make, ctx, table_values):
    """Cold coalescing, cold and warm pip, then cached files and pages with wrk."""
    up = FakeUpstream(ctx.corpus_dir, os.path.join(ctx.work, f"upstream-{kind}.log"), "--relative",
                      "--latency-ms", str(ctx.latency_ms), "--rate-kbps", str(ctx.rate_kbps))
    server = make(up)
    try:
        v = table_values
        big = ctx.big_wheel
        url = file_link(server.page_url("bigpkg"), big["filename"])
        seconds, hashes = coalescing(url, ctx.clients)
        fetches = up.counts().get(f"/files/{big['filename']}", 0)
        assert hashes == {big["sha256"]}, f"{kind}: clients got different or wrong bytes"
        v["coalesce_fetches"][kind] = fetches
        v["coalesce_seconds"][kind] = seconds

        v["pip_cold"][kind] = pip_download(server.index_url, os.path.join(ctx.work, f"dl-{kind}-cold"), PIP_PROJECTS)
        v["pip_warm"][kind] = pip_download(server.index_url, os.path.join(ctx.work, f"dl-{kind}-warm"), PIP_PROJECTS)

        small_url = file_link(server.page_url("gamma"), ctx.small_wheel["filename"])
        fetch(small_url)  # make sure it is cached
        for conns in ctx.connections:
            for label, u in (("big", url), ("small", small_url)):
                r = wrk(u, conns, ctx.duration)
                v[f"file_{label}_{conns}"][kind] = r
        for project in ("gamma", "manyfiles"):
            for fmt_name, accept in (("json", JSON), ("html", "text/html")):
                page = server.page_url(project)
                fetch_page(page, accept)  # cached from here on
                v[f"page_{project}_{fmt_name}"][kind] = wrk(page, 10, ctx.duration, [f"Accept: {accept}"])
        if kind == "wheelhouse":
            save_pages(server, ctx)
    finally:
        v["rss"][kind], v["cpu"][kind] = usage(server.pid)
        server.stop()
        up.stop()


def fetch_page(url, accept):
    req = urllib.request.Request(url, headers={"Accept": accept})
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.read()


def save_pages(server, ctx):
    """wheelhouse's rendered pages, for nginx to serve statically as the reference."""
    os.makedirs(ctx.pages_dir, exist_ok=True)
    for project in ("gamma", "manyfiles"):
        for ext, accept in (("json", JSON), ("html", "text/html")):
            with open(os.path.join(ctx.pages_dir, f"{project}.{ext}"), "wb") as f:
                f.write(fetch_page(server.page_url(project), accept))


def measure_reference(ctx, v):
    ref = NginxStatic(ctx.work, ctx.corpus_dir, ctx.pages_dir)
    try:
        for conns in ctx.connections:
            v[f"file_big_{conns}"]["nginx static"] = wrk(ref.file_url(ctx.big_wheel["filename"]), conns, ctx.duration)
            v[f"file_small_{conns}"]["nginx static"] = wrk(ref.file_url(ctx.small_wheel["filename"]), conns, ctx.duration)
        for project in ("gamma", "manyfiles"):
            for ext, accept in (("json", JSON), ("html", "text/html")):
                v[f"page_{project}_{ext}"]["nginx static"] = wrk(f"{ref.base}/pages/{project}.{ext}", 10, ctx.duration,
                                                                 [f"Accept: {accept}"])
    finally:
        v["rss"]["nginx static"], v["cpu"]["nginx static"] = usage(ref.pid)
        ref.stop()


def measure_direct_pip(ctx, v):
    """pip straight from the upstream: the speed of the upstream link itself."""
    up = FakeUpstream(ctx.corpus_dir, os.path.join(ctx.work, "upstream-direct.log"), "--relative",
                      "--latency-ms", str(ctx.latency_ms), "--rate-kbps", str(ctx.rate_kbps))
    try:
        v["pip_cold"]["upstream direct"] = pip_download(up.url, os.path.join(ctx.work, "dl-direct"), PIP_PROJECTS)
        v["pip_warm"]["upstream direct"] = pip_download(up.url, os.path.join(ctx.work, "dl-direct2"), PIP_PROJECTS)
    finally:
        up.stop()


def measure_startup(ctx, count):
    """Start-up time of wheelhouse with `count` cached files (generated), until it answers."""
    data = os.path.join(ctx.work, "startup-data")
    files = os.path.join(data, "files")
    for i in range(count):
        h = hashlib.sha256(str(i).encode()).hexdigest()
        d = os.path.join(files, h[:3], h[3:16])
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"pkg{i}-1.0-py3-none-any.whl"), "wb") as f:
            f.write(b"x")
    subprocess.run(["sync"], timeout=120)
    started = time.monotonic()
    wh = Wheelhouse(ctx.binary, data, "http://127.0.0.1:9/simple/", os.path.join(ctx.work, "startup.log"))
    try:
        wait_http(f"{wh.url}/+status", timeout=120)
        seconds = time.monotonic() - started
        assert f"cached_files={count}" in wh.read_log()
        rss, _ = usage(wh.pid)
    finally:
        wh.stop()
    return seconds, rss


# ---------------------------------------------------------------- main

class Context:
    pass


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--smoke", action="store_true", help="a few seconds: tiny corpus, short runs, no devpi")
    p.add_argument("--duration", type=int, default=None, help="seconds per wrk run")
    p.add_argument("--no-devpi", action="store_true")
    p.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "wheelhouse"))
    p.add_argument("--devpi-venv", default=os.path.join(ROOT, ".venv-bench"))
    args = p.parse_args()

    ctx = Context()
    ctx.work = tempfile.mkdtemp(prefix="wheelhouse-bench-")
    ctx.binary = args.binary
    ctx.smoke = args.smoke
    ctx.duration = args.duration or (1 if args.smoke else 5)
    ctx.connections = [1, 10] if args.smoke else [1, 10, 100]
    ctx.clients = 5 if args.smoke else 20
    ctx.latency_ms = 5 if args.smoke else 50
    ctx.rate_kbps = 50_000 if args.smoke else 10_000  # per connection: ~10 MB/s in full runs
    ctx.corpus_dir = os.path.join(ctx.work, "corpus")
    ctx.pages_dir = os.path.join(ctx.work, "pages")
    index = corpus_module.build(ctx.corpus_dir, big_wheel_mb=2 if args.smoke else 20,
                                many_files=300 if args.smoke else 3000)
    ctx.big_wheel = index["bigpkg"][0]
    ctx.small_wheel = next(f for f in index["gamma"] if f["filename"] == "gamma-1.0-py3-none-any.whl")

    kinds = ["wheelhouse", "nginx proxy"] + ([] if args.smoke or args.no_devpi else ["devpi"])
    columns = ["wheelhouse", "nginx static", "nginx proxy"] + (["devpi"] if "devpi" in kinds else []) + ["upstream direct"]
    keys = ["coalesce_fetches", "coalesce_seconds", "pip_cold", "pip_warm", "rss", "cpu"]
    keys += [f"file_{s}_{c}" for c in ctx.connections for s in ("big", "small")]
    keys += [f"page_{p}_{f}" for p in ("gamma", "manyfiles") for f in ("json", "html")]
    v = {k: {} for k in keys}

    started = time.monotonic()
    makers = {
        "wheelhouse": lambda up: WheelhouseUnderTest(ctx.binary, up, ctx.work),
        "nginx proxy": lambda up: NginxProxy(ctx.work, up),
        "devpi": lambda up: Devpi(args.devpi_venv, ctx.work, up),
    }
    for kind in kinds:
        print(f"# measuring {kind}", flush=True)
        measure_proxy(kind, makers[kind], ctx, v)
    print("# measuring nginx static (reference)", flush=True)
    measure_reference(ctx, v)
    print("# measuring pip straight from upstream", flush=True)
    measure_direct_pip(ctx, v)
    print("# measuring start-up", flush=True)
    startup_count = 2_000 if args.smoke else 100_000
    startup_seconds, startup_rss = measure_startup(ctx, startup_count)

    t = Table(columns, "nginx static")
    big_mb = ctx.big_wheel["size"] / 1e6
    for c in ctx.connections:
        t.add("cached file", f"{big_mb:.0f} MB wheel, {c} conn: MB/s", {k: r["mbps"] for k, r in v[f"file_big_{c}"].items()})
        t.add("cached file", f"{big_mb:.0f} MB wheel, {c} conn: p99 ms", {k: r["p99"] for k, r in v[f"file_big_{c}"].items()}, unit="")
        t.add("cached file", f"small wheel, {c} conn: req/s", {k: r["rps"] for k, r in v[f"file_small_{c}"].items()})
        t.add("cached file", f"small wheel, {c} conn: p99 ms", {k: r["p99"] for k, r in v[f"file_small_{c}"].items()})
    nfiles = len(index["manyfiles"])
    for p_, label in (("gamma", "small project"), ("manyfiles", f"{nfiles} files")):
        for f_ in ("json", "html"):
            rows = v[f"page_{p_}_{f_}"]
            t.add("cached page", f"{label}, {f_.upper()}, 10 conn: req/s", {k: r["rps"] for k, r in rows.items()})
            t.add("cached page", f"{label}, {f_.upper()}, 10 conn: p99 ms", {k: r["p99"] for k, r in rows.items()})
    t.reference = "upstream direct"
    t.add("pip download", f"{len(PIP_PROJECTS)} wheels, cold: s", v["pip_cold"])
    t.add("pip download", f"{len(PIP_PROJECTS)} wheels, warm: s", v["pip_warm"])
    t.reference = "nginx proxy"
    t.add("coalescing", f"{ctx.clients} clients, one cold {big_mb:.0f} MB file: upstream fetches", v["coalesce_fetches"])
    t.add("coalescing", f"{ctx.clients} clients, one cold {big_mb:.0f} MB file: s", v["coalesce_seconds"])
    t.reference = "nginx static"
    t.add("server", "peak RSS over the run: MiB", {k: r / 1024 for k, r in v["rss"].items()})
    t.add("server", "CPU time over the run: s", v["cpu"])
    t.reference = None
    t.add("start-up", f"{startup_count:,} cached files: s to first response", {"wheelhouse": startup_seconds})
    t.add("start-up", f"{startup_count:,} cached files: RSS MiB", {"wheelhouse": startup_rss / 1024})

    cpu = platform.processor() or open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(": \t")
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    header = (f"Run {when} on {platform.node()}: {os.cpu_count()} cores ({cpu}), "
              f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, {platform.platform()}.\n"
              f"Upstream: local, {ctx.latency_ms} ms latency per request, {ctx.rate_kbps // 1000} MB/s per connection. "
              f"wrk runs: {ctx.duration} s each. Mode: {'smoke' if args.smoke else 'full'}. "
              f"Total bench time {time.monotonic() - started:.0f} s.\n")
    text = header + "\n" + t.markdown() + "\n"
    print(text)

    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    name = "smoke.md" if args.smoke else "latest.md"
    with open(os.path.join(HERE, "results", name), "w") as f:
        f.write(text)
    if not args.smoke:
        update_docs(text)
    shutil.rmtree(ctx.work, ignore_errors=True)


def update_docs(text, marker="bench"):
    """Replaces the table between `<!-- MARKER:start -->` and `<!-- MARKER:end -->` in docs/performance.md."""
    path = os.path.join(ROOT, "docs", "performance.md")
    doc = open(path).read()
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    if start in doc and end in doc:
        doc = doc.split(start)[0] + start + "\n" + text + end + doc.split(end, 1)[1]
        with open(path, "w") as f:
            f.write(doc)


if __name__ == "__main__":
    main()
