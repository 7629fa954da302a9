"""The real-size pages scenario (issue 13): the fake upstream lists thousands of
files per project, as PyPI does for numpy, botocore or django (older releases,
wheels for many platforms, sdists, some yanked, upload times, requires-python,
core metadata), while only the files clients download exist. Measured side by
side, in one run, on 127.0.0.1:

    python3 bench/realsize.py [--smoke] [--binary B] [--no-devpi] [--duration S]

Prints one table, writes it to bench/results/, and (full runs) replaces the
table between the realsize markers in docs/performance.md. See there for what
each figure means.
"""
import argparse
import concurrent.futures
import datetime
import gzip
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import corpus as corpus_module  # noqa: E402
from bench import Table, update_docs, wrk  # noqa: E402
from harness import FakeUpstream, Wheelhouse  # noqa: E402
from servers import Devpi, NginxProxy, NginxStaticPages, usage  # noqa: E402

PIP_ACCEPT = ("application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, "
              "text/html; q=0.01")
PIP_HEADERS = [f"Accept: {PIP_ACCEPT}", "Accept-Encoding: gzip, deflate"]

FULL = dict(projects=50, pad=2000, many=500, big=10_000, huge=100_000, prefetch=300, uv_names=20, latency=50)
SMOKE = dict(projects=8, pad=300, many=40, big=2_000, huge=10_000, prefetch=30, uv_names=4, latency=5)


def peak_kib(pid):  # VmHWM over the process tree
    return usage(pid)[0]


def build_corpus(work, size):
    """`rsNNN` projects with one real wheel each (what pip downloads), padded pages
    for all; `six` (a six-sized page), `bigpage`, `hugepage` and `ppNNN` (many
    projects) exist only as listings."""
    directory = os.path.join(work, "corpus")
    os.makedirs(directory)
    index = {}
    for i in range(size["projects"]):
        name = f"rs{i:03d}"
        filename, data = corpus_module.build_wheel(name, "1.0", [], None, 50_000 + (i * 37_000) % 900_000)
        with open(os.path.join(directory, filename), "wb") as f:
            f.write(data)
        index[name] = [{"filename": filename, "version": "1.0", "sha256": hashlib.sha256(data).hexdigest(),
                        "size": len(data), "requires-python": None, "yanked": None}]
    with open(os.path.join(directory, "index.json"), "w") as f:
        json.dump(index, f)
    table = {"six": 40, "bigpage": size["big"], "hugepage": size["huge"]}
    table.update({f"pp{i:03d}": size["pad"] for i in range(size["many"])})
    table_path = os.path.join(work, "pad-table.json")
    with open(table_path, "w") as f:
        json.dump(table, f)
    return directory, sorted(index), table_path


def upstream(ctx, name, *extra):
    up = FakeUpstream(ctx.corpus, os.path.join(ctx.work, f"upstream-{name}.log"), "--relative",
                      "--latency-ms", str(ctx.size["latency"]), "--pad-files", str(ctx.size["pad"]),
                      "--pad-table", ctx.pad_table, *extra)
    # The fake upstream takes seconds to generate its biggest listings (then keeps
    # them): have that done before anything is timed.
    for big in ("bigpage", "hugepage"):
        get(f"{up.url}{big}/", {"Accept": "application/vnd.pypi.simple.v1+json"})
    return up


def wheelhouse(ctx, up, name, data=None):
    data = data or os.path.join(ctx.work, f"data-{name}")
    # --page-timeout as nginx's proxy_read_timeout (the default 10 s is for a real upstream, not a busy test machine).
    return Wheelhouse(ctx.binary, data, up.url, os.path.join(ctx.work, f"wheelhouse-{name}-{time.monotonic_ns()}.log"),
                      "--log-level", "warning", "--page-timeout", "60")


def pip_download(ctx, index_url, projects):
    dest = os.path.join(ctx.work, "dl")
    shutil.rmtree(dest, ignore_errors=True)
    env = {k: x for k, x in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    started = time.monotonic()
    r = subprocess.run([ctx.python, "-m", "pip", "download", "--no-deps", "--no-cache-dir", "--only-binary", ":all:",
                        "--index-url", index_url, "-d", dest, *projects], capture_output=True, text=True,
                       timeout=1800, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"pip download via {index_url} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return time.monotonic() - started


SAME_HOST = {"Accept": PIP_ACCEPT, "Accept-Encoding": "gzip, deflate", "Host": "wheelhouse.bench:3141"}


def get(url, headers=None, timeout=300):
    started = time.monotonic()
    req = urllib.request.Request(url, headers=headers or {"Accept": PIP_ACCEPT, "Accept-Encoding": "gzip, deflate"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        n = 0
        for chunk in iter(lambda: r.read(1 << 20), b""):
            n += len(chunk)
    return time.monotonic() - started


def page_gets(page_url, projects, threads=8):
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda p: get(page_url(p)), projects))


def loop_stall(big_url, small_url):
    """Max latency of small requests made one after another while `big_url` (a
    cold 100,000-file page) arrives; and the big request's own time."""
    get(small_url)
    done = threading.Event()
    worst = [0.0]

    def small_loop():
        deadline = time.monotonic() + 600
        while not done.is_set() and time.monotonic() < deadline:
            worst[0] = max(worst[0], get(small_url, timeout=120))
    t = threading.Thread(target=small_loop)
    t.start()
    try:
        big = get(big_url, timeout=600)
    finally:
        done.set()
        t.join(timeout=130)
    return worst[0] * 1000, big


# ---------------------------------------------------------------- scenarios

def measure_wheelhouse(ctx, v):
    up = upstream(ctx, "wheelhouse")
    data = os.path.join(ctx.work, "data-wheelhouse")
    try:
        wh = wheelhouse(ctx, up, "main", data)
        page = lambda p: f"{wh.url}/root/pypi/+simple/{p}/"  # noqa: E731
        try:
            v["pip_cold"]["wheelhouse"] = pip_download(ctx, wh.index_url, ctx.projects)
            v["pip_warm"]["wheelhouse"] = pip_download(ctx, wh.index_url, ctx.projects)
            v["rss_pip"]["wheelhouse"] = peak_kib(wh.pid)
            for label in ("six", "bigpage"):
                get(page(label))
                v[f"rps_{label}"]["wheelhouse"] = wrk(page(label), 10, ctx.duration, PIP_HEADERS)["rps"]
            v["stall"]["wheelhouse"], v["huge_seconds"]["wheelhouse"] = loop_stall(page("hugepage"), page("six"))
            v["rss_huge"]["wheelhouse"] = peak_kib(wh.pid)
            # Pages link files absolutely on the client's host: the restarted server is on
            # another port here, so both sides name one host, as a deployment's clients do.
            get(page("bigpage"), SAME_HOST)
        finally:
            wh.stop()
        wh = wheelhouse(ctx, up, "restart", data)
        try:
            v["first_big"]["wheelhouse"] = get(page("bigpage"), SAME_HOST) * 1000
        finally:
            wh.stop()
        for count in (ctx.size["projects"], ctx.size["many"]):
            wh = wheelhouse(ctx, up, f"pages{count}")
            try:
                names = [f"pp{i:03d}" for i in range(count)]
                page_gets(page, names)  # cold
                page_gets(page, names)  # warm
                v[f"rss_pages_{count}"]["wheelhouse"] = peak_kib(wh.pid)
            finally:
                wh.stop()
    finally:
        up.stop()


def measure_nginx_proxy(ctx, v):
    up = upstream(ctx, "nginx-proxy")
    try:
        px = NginxProxy(ctx.work, up)
        try:
            v["pip_cold"]["nginx proxy"] = pip_download(ctx, px.index_url, ctx.projects)
            v["rss_pip"]["nginx proxy"] = peak_kib(px.pid)
            v["stall"]["nginx proxy"], v["huge_seconds"]["nginx proxy"] = loop_stall(px.page_url("hugepage"), px.page_url("six"))
        finally:
            px.stop()
    finally:
        up.stop()


def measure_nginx_static(ctx, v):
    pages = os.path.join(ctx.work, "static-pages")
    up = upstream(ctx, "pages")
    try:
        for p in ctx.projects + ["six", "bigpage"]:
            req = urllib.request.Request(f"{up.url}{p}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
            with urllib.request.urlopen(req, timeout=300) as r:
                body = r.read()
            os.makedirs(os.path.join(pages, p))
            with open(os.path.join(pages, p, "index.json"), "wb") as f:
                f.write(body)
            with open(os.path.join(pages, p, "index.json.gz"), "wb") as f:
                f.write(gzip.compress(body, 6))
    finally:
        up.stop()
    files = os.path.join(ctx.work, "static-files")  # the wheels and their PEP 658 .metadata, as upstream serves them
    os.makedirs(files)
    for name in os.listdir(ctx.corpus):
        if name.endswith(".whl"):
            os.link(os.path.join(ctx.corpus, name), os.path.join(files, name))
            with zipfile.ZipFile(os.path.join(ctx.corpus, name)) as zf:
                member = next(m for m in zf.namelist() if m.endswith(".dist-info/METADATA"))
                with open(os.path.join(files, name + ".metadata"), "wb") as f:
                    f.write(zf.read(member))
    ng = NginxStaticPages(ctx.work, pages, files)
    try:
        v["pip_warm"]["nginx static"] = pip_download(ctx, ng.index_url, ctx.projects)
        v["rss_pip"]["nginx static"] = peak_kib(ng.pid)
        for label in ("six", "bigpage"):
            v[f"rps_{label}"]["nginx static"] = wrk(f"{ng.index_url}{label}/", 10, ctx.duration, PIP_HEADERS)["rps"]
    finally:
        ng.stop()
    ng = NginxStaticPages(ctx.work, pages, files)  # a restart: first request for the big page
    try:
        v["first_big"]["nginx static"] = get(f"{ng.index_url}bigpage/") * 1000
    finally:
        ng.stop()


def measure_devpi(ctx, v):
    up = upstream(ctx, "devpi")
    try:
        dv = Devpi(ctx.devpi_venv, ctx.work, up)
        try:
            v["pip_cold"]["devpi"] = pip_download(ctx, dv.index_url, ctx.projects)
            v["pip_warm"]["devpi"] = pip_download(ctx, dv.index_url, ctx.projects)
            v["rss_pip"]["devpi"] = peak_kib(dv.pid)
        finally:
            dv.stop()
    finally:
        up.stop()


def measure_uv_compile(ctx, v):
    """Bytes of wheels moved upstream by a resolve when upstream offers no core metadata."""
    up = upstream(ctx, "no-metadata", "--no-metadata")
    names = ctx.projects[:ctx.size["uv_names"]]
    try:
        wh = wheelhouse(ctx, up, "uv")
        try:
            reqs = os.path.join(ctx.work, "uv.in")
            with open(reqs, "w") as f:
                f.write("".join(n + "\n" for n in names))
            env = {k: x for k, x in os.environ.items() if not k.startswith(("UV_", "PIP_"))}
            env.update(UV_NO_CONFIG="1", UV_CACHE_DIR=os.path.join(ctx.work, "uv-cache"))
            r = subprocess.run([ctx.uv, "pip", "compile", reqs, "--index-url", wh.index_url, "--no-cache",
                                "--python-version", "3.11", "-o", os.path.join(ctx.work, "uv.txt")],
                               capture_output=True, text=True, timeout=600, env=env)
            if r.returncode != 0:
                raise RuntimeError(f"uv pip compile failed:\n{r.stderr[-2000:]}")
        finally:
            wh.stop()
        with urllib.request.urlopen(f"http://127.0.0.1:{up.port}/_stats", timeout=10) as r:
            moved = json.load(r).get("bytes-by-kind", {}).get("files", 0)
        whole = sum(os.path.getsize(os.path.join(ctx.corpus, f)) for f in os.listdir(ctx.corpus)
                    if f.endswith(".whl") and f.split("-")[0] in names)
        v["uv_bytes"]["wheelhouse"] = moved / 1e6
        v["uv_bytes"]["whole wheels"] = whole / 1e6
    finally:
        up.stop()


def measure_prefetch(ctx, v):
    """`wheelhouse prefetch --server` of N pins through a running server, its own peak apart from the server's."""
    directory = os.path.join(ctx.work, "prefetch-corpus")
    n = ctx.size["prefetch"]
    corpus_module.build_prefetch(directory, synthetic=n)
    up = FakeUpstream(directory, os.path.join(ctx.work, "upstream-prefetch.log"), "--pad-files", str(ctx.size["pad"]))
    try:
        wh = wheelhouse(ctx, up, "prefetch")
        try:
            reqs = os.path.join(ctx.work, "pins.txt")
            with open(reqs, "w") as f:
                f.write("".join(f"synth{i:03d}==1.2\n" for i in range(n)))
            proc = subprocess.Popen([ctx.binary, "prefetch", "--server", wh.url, "-r", reqs, "--parallel", "8"],
                                    stdout=open(os.path.join(ctx.work, "prefetch.out"), "wb"), stderr=subprocess.STDOUT)
            peak, deadline = 0, time.monotonic() + 1800
            while proc.poll() is None and time.monotonic() < deadline:
                peak = max(peak, peak_kib(proc.pid))
                time.sleep(0.02)
            proc.wait(timeout=60)
            out = open(os.path.join(ctx.work, "prefetch.out")).read()
            if f"resolved {n}" not in out:
                print(f"# prefetch did not resolve all {n}: {out[-500:]}", flush=True)
            v["prefetch_rss"]["wheelhouse"] = peak
            v["prefetch_server_rss"]["wheelhouse"] = peak_kib(wh.pid)
        finally:
            wh.stop()
    finally:
        up.stop()


# ---------------------------------------------------------------- main
class Context:
    pass


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--smoke", action="store_true", help="small sizes, short runs, no devpi (CI)")
    p.add_argument("--duration", type=int, default=None, help="seconds per wrk run")
    p.add_argument("--no-devpi", action="store_true")
    p.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "wheelhouse"))
    p.add_argument("--only", action="append", default=[], metavar="STEP",
                   help="run only these steps (wheelhouse, nginx-proxy, nginx-static, devpi, uv, prefetch); repeatable")
    p.add_argument("--venv", default=os.path.join(ROOT, ".venv-bench"), help="pip 26.3, uv (and devpi) from bench/setup.sh")
    args = p.parse_args()

    ctx = Context()
    ctx.work = tempfile.mkdtemp(prefix="wheelhouse-realsize-")
    ctx.binary = os.path.abspath(args.binary)
    ctx.size = SMOKE if args.smoke else FULL
    ctx.duration = args.duration or (1 if args.smoke else 5)
    ctx.python = os.path.join(args.venv, "bin", "python")
    ctx.uv = os.path.join(args.venv, "bin", "uv")
    ctx.devpi_venv = args.venv
    ctx.corpus, ctx.projects, ctx.pad_table = build_corpus(ctx.work, ctx.size)
    keys = ["pip_cold", "pip_warm", "rss_pip", "rss_huge", "rps_six", "rps_bigpage", "stall", "huge_seconds", "first_big",
            "uv_bytes", "prefetch_rss", "prefetch_server_rss", f"rss_pages_{ctx.size['projects']}", f"rss_pages_{ctx.size['many']}"]
    v = {k: {} for k in keys}
    started = time.monotonic()
    steps = [("wheelhouse", measure_wheelhouse), ("nginx proxy", measure_nginx_proxy), ("nginx static", measure_nginx_static),
             ("uv pip compile, no upstream metadata", measure_uv_compile), ("prefetch", measure_prefetch)]
    if not (args.smoke or args.no_devpi):
        steps.insert(3, ("devpi", measure_devpi))
    if args.only:
        steps = [(label, step) for label, step in steps if label.split(" ")[0] in args.only or label.replace(" ", "-") in args.only]
    for label, step in steps:
        print(f"# realsize: {label} ({time.monotonic() - started:.0f} s)", flush=True)
        step(ctx, v)

    s = ctx.size
    t = Table(["wheelhouse", "nginx static", "nginx proxy", "devpi", "whole wheels"], "nginx proxy")
    n = s["projects"]
    t.add("pip download", f"{n} projects, cold: s (ref: nginx proxy_cache)", v["pip_cold"], higher_is_better=False)
    t.reference = "nginx static"
    t.add("pip download", f"{n} projects, warm: s (ref: nginx static)", v["pip_warm"], higher_is_better=False)
    t.add("memory", f"peak RSS, pip of {n} projects cold + warm: MiB", {k: x / 1024 for k, x in v["rss_pip"].items()})
    t.reference = None
    for count in (n, s["many"]):
        t.add("memory", f"peak RSS, page GETs of {count} projects ({s['pad']:,} files each), cold + warm: MiB",
              {k: x / 1024 for k, x in v[f"rss_pages_{count}"].items()})
    t.reference = "nginx static"
    t.add("cached page", "six-sized (40 files), pip's Accept + gzip, 10 conn: req/s", v["rps_six"])
    t.add("cached page", f"{s['big']:,} files, pip's Accept + gzip, 10 conn: req/s", v["rps_bigpage"])
    t.add("restart", f"first request for the {s['big']:,}-file page after a restart: ms", v["first_big"])
    t.reference = "nginx proxy"
    t.add("big page", f"{s['huge']:,}-file page arriving: max latency of small requests meanwhile, ms", v["stall"])
    t.add("big page", f"{s['huge']:,}-file page arriving: its own request, s", v["huge_seconds"])
    t.reference = None
    t.add("big page", f"peak RSS after the {s['huge']:,}-file page: MiB", {k: x / 1024 for k, x in v["rss_huge"].items()})
    t.reference = "whole wheels"
    t.add("no metadata", f"uv pip compile of {s['uv_names']} names: MB of wheels moved upstream", v["uv_bytes"])
    t.reference = None
    t.add("prefetch", f"prefetch --server of {s['prefetch']} pins ({s['pad']:,}-file pages): peak RSS MiB",
          {k: x / 1024 for k, x in v["prefetch_rss"].items()})
    t.add("prefetch", "... the server it ran through: peak RSS MiB", {k: x / 1024 for k, x in v["prefetch_server_rss"].items()})

    cpu = open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(": \t")
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    header = (f"Run {when} on {platform.node()}: {os.cpu_count()} cores ({cpu}), {platform.platform()}. "
              f"Mode: {'smoke' if args.smoke else 'full'}; upstream latency {s['latency']} ms per request; "
              f"pages padded to {s['pad']:,} files; wrk runs {ctx.duration} s. Binary: {ctx.binary}. "
              f"Total {time.monotonic() - started:.0f} s.\n")
    text = header + "\n" + t.markdown() + "\n"
    print(text)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    name = "realsize-smoke.md" if args.smoke else "realsize-partial.md" if args.only else "realsize.md"
    with open(os.path.join(HERE, "results", name), "w") as f:
        f.write(text)
    if not (args.smoke or args.only):
        update_docs(text, marker="realsize")
    shutil.rmtree(ctx.work, ignore_errors=True)


if __name__ == "__main__":
    main()
