#!/usr/bin/env python3
"""How long does a big upstream page stall wheelhouse's event loop?

    scripts/page_stall_probe.py BINARY [--files 100000] [--gzip] [--html] [--restart]

Generates one PyPI-like project page of --files files (url, hashes, requires-python,
upload-time, size, core-metadata, yanked on some), serves it from a local upstream
(its own process, so Python's GIL cannot blur the figures), starts BINARY serve against
it, and asks for the page through wheelhouse while another connection asks for /+status
every 2 ms. Prints the slowest /+status answer (the longest loop stall), how long the
page took, wheelhouse's peak RSS, and its `upstream_page_timing` debug line (where the
time went: reading chunks, storing and indexing, answering).
"""
import argparse
import gzip
import hashlib
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
import harness  # noqa: E402


def page(files, html):
    """A page like PyPI's for a project with `files` files."""
    entries, links, versions = [], [], []
    for n in range(files):
        version = f"{n // 20}.{n % 20 // 4}.{n % 4}"
        if n % 20 == 0:
            versions.append(version)
        wheel = n % 5 != 0
        name = f"big-{version}-cp312-cp312-manylinux_2_17_x86_64.whl" if wheel else f"big-{version}.tar.gz"
        sha = hashlib.sha256(str(n).encode()).hexdigest()
        url = f"https://files.example/packages/{sha[:2]}/{sha[2:4]}/{sha[4:]}/{name}"
        e = {"filename": name, "url": url, "hashes": {"sha256": sha}, "size": n * 7919 % 50_000_000,
             "upload-time": f"2024-0{n % 9 + 1}-1{n % 10}T12:34:56.{n:06d}Z", "yanked": n % 97 == 0}
        if n % 3:
            e["requires-python"] = f">=3.{n % 13}"
        if wheel:
            meta = hashlib.sha256(sha.encode()).hexdigest()
            e["core-metadata"] = {"sha256": meta}
            e["data-dist-info-metadata"] = {"sha256": meta}
        entries.append(e)
        links.append(f'<a href="{url}#sha256={sha}"'
                     + (f' data-requires-python="&gt;=3.{n % 13}"' if n % 3 else "")
                     + (f' data-core-metadata="sha256={e["core-metadata"]["sha256"]}"' if wheel else "")
                     + f'>{name}</a><br/>')
    if html:
        return "text/html", ("<!DOCTYPE html><html><body>\n" + "\n".join(links) + "\n</body></html>\n").encode()
    body = {"meta": {"api-version": "1.1"}, "name": "big", "versions": versions, "files": entries}
    return "application/vnd.pypi.simple.v1+json", json.dumps(body).encode()


def serve(args):
    """The upstream: one page at /simple/big/, gzip when asked and allowed."""
    ctype, body = page(args.files, args.html)
    zipped = gzip.compress(body, 6) if args.gzip else None

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_GET(self):
            if self.path.rstrip("/") != "/simple/big":
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data = body
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            if zipped is not None and "gzip" in self.headers.get("Accept-Encoding", ""):
                data = zipped
                self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"READY {server.server_address[1]} bytes={len(body)} gzip_bytes={len(zipped) if zipped else 0}", flush=True)
    server.serve_forever()


def probe(port, stop, samples):
    """/+status every 2 ms on one keep-alive connection: each answer's latency."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    while not stop.is_set():
        start = time.monotonic()
        conn.request("GET", "/+status")
        conn.getresponse().read()
        samples.append((start, time.monotonic() - start))
        time.sleep(0.002)


def cpu_ms(pid):
    """User + system CPU the process has used: comparable on a busy machine, unlike wall time."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 // os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    return int(fields["VmHWM"].split()[0]) // 1024, int(fields["VmRSS"].split()[0]) // 1024


def measure(wh, what):
    """Asks for the page while /+status is probed every 2 ms; prints the figures."""
    rss_idle, _ = peak_rss_mb(wh.pid)
    stop, samples = threading.Event(), []
    prober = threading.Thread(target=probe, args=(wh.port, stop, samples))
    prober.start()
    time.sleep(0.3)
    cpu_before = cpu_ms(wh.pid)
    start = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", wh.port, timeout=600)
    conn.request("GET", "/root/pypi/+simple/big/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    resp = conn.getresponse()
    size = len(resp.read())
    took = time.monotonic() - start
    cpu = cpu_ms(wh.pid) - cpu_before
    time.sleep(0.3)
    stop.set()
    prober.join()
    during = [lat for t, lat in samples if start <= t <= start + took]
    worst_at, worst = max(samples, key=lambda s: s[1])
    peak, rss = peak_rss_mb(wh.pid)
    print(f"[{what}] page status={resp.status} bytes={size} took_ms={took * 1000:.0f} wheelhouse_cpu_ms={cpu}")
    print(f"status_probes={len(samples)} during_page={len(during)} max_stall_ms={worst * 1000:.1f}"
          f" p99_ms={sorted(during)[int(len(during) * 0.99)] * 1000 if during else 0:.1f}"
          f" slowest_began_ms={(worst_at - start) * 1000:.0f} (after the page was asked for)")
    print(f"rss_idle_mb={rss_idle} peak_rss_mb={peak} rss_after_mb={rss}")
    for line in wh.read_log().splitlines():
        if "upstream_page" in line:
            print(line)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("binary", nargs="?")
    p.add_argument("--files", type=int, default=100_000)
    p.add_argument("--gzip", action="store_true")
    p.add_argument("--html", action="store_true")
    p.add_argument("--restart", action="store_true", help="then restart wheelhouse and ask for the page again")
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        return serve(args)
    with tempfile.TemporaryDirectory() as tmp:
        up_args = [sys.executable, os.path.abspath(__file__), "--serve", "--files", str(args.files)]
        up_args += ["--gzip"] * args.gzip + ["--html"] * args.html
        up_log = os.path.join(tmp, "upstream.log")
        with open(up_log, "ab") as log:
            upstream = subprocess.Popen(up_args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wh = None
        try:
            # Generating 100,000 entries takes a while on a busy machine.
            up_port = int(harness.wait_for_line(up_log, r"READY (\d+)", upstream, timeout=300).group(1))
            print(open(up_log).read().strip())
            wh = harness.Wheelhouse(args.binary, os.path.join(tmp, "data"), f"http://127.0.0.1:{up_port}/simple/",
                                    os.path.join(tmp, "wh.log"), "--log-level", "debug")
            measure(wh, "fetched from upstream")
            if args.restart:
                # (b) the same page after a restart: read from disk, rendered anew.
                wh.stop()
                wh = harness.Wheelhouse(args.binary, os.path.join(tmp, "data"), f"http://127.0.0.1:{up_port}/simple/",
                                        os.path.join(tmp, "wh2.log"), "--log-level", "debug")
                measure(wh, "after a restart")
        finally:
            if wh:
                wh.stop()
            upstream.terminate()
            upstream.wait(timeout=10)


if __name__ == "__main__":
    main()
