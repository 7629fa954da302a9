"""PEP 658 metadata for wheels upstream offers none for (issue 13): wheelhouse reads each
wheel's METADATA off upstream with ranged GETs instead of clients downloading every
candidate wheel; upstreams that ignore Range fall back to whole wheels; files still
downloading answer ranges for the bytes already written."""
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile

from clients import UV, pip_python
from harness import file_url, http_get, wait_until

JSON = "application/vnd.pypi.simple.v1+json"
TOP = ["alpha", "mu", "eta", "epsilon-pkg", "zeta"]
RESOLVED = {"alpha": "2.0", "beta": "1.0", "gamma": "1.0", "delta": "1.0", "mu": "1.0", "kappa": "1.0",
            "iota": "1.0", "lambda-pkg": "1.0", "eta": "1.0", "theta": "1.0", "epsilon-pkg": "1.0", "zeta": "1.0"}


def client_env():
    env = dict(os.environ, UV_PYTHON_DOWNLOADS="never", UV_NO_CONFIG="1", UV_NO_CACHE="1", PIP_CONFIG_FILE=os.devnull,
               PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    for var in ("UV_INDEX_URL", "UV_DEFAULT_INDEX", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"):
        env.pop(var, None)
    return env


def uv_compile(wh, tmp_path, name="requirements.in"):
    requirements = tmp_path / name
    requirements.write_text("\n".join(TOP) + "\n")
    return subprocess.run([UV, "pip", "compile", "--python", sys.executable, "--index-url", wh.index_url, str(requirements)],
                          capture_output=True, text=True, timeout=180, env=client_env())


def pip(*args, timeout=180):
    return subprocess.run([pip_python("latest"), "-m", "pip", *args], capture_output=True, text=True, timeout=timeout, env=client_env())


def stats(up):
    with urllib.request.urlopen(f"http://127.0.0.1:{up.port}/_stats", timeout=10) as r:
        return json.load(r)


def wheel_bytes_served(up):
    return sum(n for path, n in stats(up)["bytes"].items() if path.endswith(".whl"))


def whole_wheel_gets(up):
    return sum(n for path, n in stats(up)["whole"].items() if path.endswith(".whl"))


def wheels(corpus, projects):
    return [f for p in projects for f in corpus[1][p] if f["filename"].endswith(".whl")]


def own_metadata(corpus, entry):
    with zipfile.ZipFile(os.path.join(corpus[0], entry["filename"])) as zf:
        return zf.read(next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA")))


def test_uv_compile_reads_metadata_by_ranges(start_upstream, start_wheelhouse, corpus, tmp_path):
    up = start_upstream("--no-metadata")
    wh = start_wheelhouse(up.url)
    page = json.loads(http_get(f"{wh.url}/root/pypi/+simple/delta/", {"Accept": JSON})[2])
    assert all(f["core-metadata"] is True for f in page["files"] if f["filename"].endswith(".whl")), "PEP 714: true, no hash yet"
    assert all("core-metadata" not in f for f in page["files"] if f["filename"].endswith(".tar.gz"))

    result = uv_compile(wh, tmp_path)
    assert result.returncode == 0, result.stderr
    for name, version in RESOLVED.items():
        assert f"{name}=={version}" in result.stdout, result.stdout

    total = sum(f["size"] for f in wheels(corpus, RESOLVED))
    served = wheel_bytes_served(up)
    print(f"uv pip compile, upstream without metadata: {served} wheel bytes from upstream of {total} ({served / total:.1%})")
    assert whole_wheel_gets(up) == 0, stats(up)["whole"]
    assert served < total / 4, f"{served} of {total} wheel bytes moved"

    # The .metadata bodies are the wheels' METADATA; pages now advertise their sha256.
    for entry in wheels(corpus, ["alpha", "mu", "eta"]):
        status, _, body = http_get(file_url(wh.url, entry) + ".metadata")
        assert status == 200 and body == own_metadata(corpus, entry)
    page = json.loads(http_get(f"{wh.url}/root/pypi/+simple/mu/", {"Accept": JSON})[2])
    wheel = next(f for f in page["files"] if f["filename"].endswith(".whl"))
    assert wheel["core-metadata"] == {"sha256": hashlib.sha256(own_metadata(corpus, wheels(corpus, ["mu"])[0])).hexdigest()}
    html = http_get(f"{wh.url}/root/pypi/+simple/mu/", {"Accept": "text/html"})[2]
    assert b'data-core-metadata="sha256=' in html

    # A second client is served from the cache: not one more byte of any wheel upstream.
    before = wheel_bytes_served(up)
    again = uv_compile(wh, tmp_path, "again.in")
    assert again.returncode == 0, again.stderr
    assert wheel_bytes_served(up) == before
    assert "event=upstream_metadata_ranged" in wh.read_log()


def test_pip_dry_run_and_download_use_the_ranged_metadata(start_upstream, start_wheelhouse, corpus, tmp_path):
    up = start_upstream("--no-metadata")
    wh = start_wheelhouse(up.url)
    report = tmp_path / "report.json"
    dry = pip("install", "--dry-run", "--ignore-installed", "--no-cache-dir", "--index-url", wh.index_url,
              "--report", str(report), *TOP)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    chosen = {i["metadata"]["name"].lower().replace("_", "-"): i["metadata"]["version"] for i in json.load(open(report))["install"]}
    assert chosen == RESOLVED
    assert whole_wheel_gets(up) == 0, "pip resolved from .metadata alone"

    # pip download fetches only the wheels it picked, each once, and they are the corpus's.
    target = tmp_path / "dl"
    got = pip("download", "--no-cache-dir", "--index-url", wh.index_url, "-d", str(target), "mu", "eta")
    assert got.returncode == 0, got.stdout + got.stderr
    names = sorted(os.listdir(target))
    assert len(names) == 6, names
    for entry in wheels(corpus, ["mu", "kappa", "iota", "lambda-pkg", "eta", "theta"]):
        assert hashlib.sha256(open(target / entry["filename"], "rb").read()).hexdigest() == entry["sha256"]
    assert whole_wheel_gets(up) == 6
    # Now cached (sha256-verified), each wheel's METADATA was extracted again: it equals the ranged copy.
    assert "event=metadata_mismatch" not in wh.read_log()
    for entry in wheels(corpus, ["mu", "eta"]):
        assert http_get(file_url(wh.url, entry) + ".metadata")[2] == own_metadata(corpus, entry)


def test_upstream_ignoring_range_falls_back_to_whole_wheels(start_upstream, start_wheelhouse, corpus, tmp_path):
    up = start_upstream("--no-metadata")
    wh = start_wheelhouse(up.url)
    urllib.request.urlopen(f"http://127.0.0.1:{up.port}/_control?ignore_range=1", timeout=10).read()
    # Advertised before wheelhouse learnt that upstream ignores Range: it must still be served.
    page = json.loads(http_get(f"{wh.url}/root/pypi/+simple/theta/", {"Accept": JSON})[2])
    assert next(f for f in page["files"] if f["filename"].endswith(".whl"))["core-metadata"] is True
    entry = wheels(corpus, ["theta"])[0]
    status, _, body = http_get(file_url(wh.url, entry) + ".metadata")
    assert status == 200 and body == own_metadata(corpus, entry)
    assert "event=upstream_ignores_range" in wh.read_log()
    # From now on pages advertise metadata only for wheels it can serve without ranges.
    page = json.loads(http_get(f"{wh.url}/root/pypi/+simple/iota/", {"Accept": JSON})[2])
    assert all("core-metadata" not in f for f in page["files"])
    page = json.loads(http_get(f"{wh.url}/root/pypi/+simple/theta/", {"Accept": JSON})[2])
    assert "core-metadata" in next(f for f in page["files"] if f["filename"].endswith(".whl")), "cached: extracted"

    result = uv_compile(wh, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "mu==1.0" in result.stdout and "iota==1.0" in result.stdout
    target = tmp_path / "t"
    install = pip("install", "--no-cache-dir", "--target", str(target), "--index-url", wh.index_url, "mu", "eta")
    assert install.returncode == 0, install.stdout + install.stderr
    assert os.path.exists(target / "iota" / "__init__.py") and os.path.exists(target / "theta" / "__init__.py")


def read_head(sock):
    data = b""
    deadline = time.monotonic() + 20
    while b"\r\n\r\n" not in data and time.monotonic() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head.decode(), rest


def ranged(port, path, range_header, read_body=True):
    """(status, headers text, body) for a ranged GET; a 200's body is not waited for."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nRange: {range_header}\r\nConnection: close\r\n\r\n".encode())
        head, body = read_head(s)
        status = int(head.split(" ", 2)[1])
        length = int(next(line.split(":")[1] for line in head.split("\r\n") if line.lower().startswith("content-length")))
        if status != 200 and read_body:
            while len(body) < length:
                chunk = s.recv(65536)
                if not chunk:
                    break
                body += chunk
        return status, head, body


def test_ranges_on_a_file_still_downloading(start_upstream, start_wheelhouse, corpus):
    up = start_upstream("--rate-kbps", "32")  # 64 KiB at once, then 2 s per 64 KiB
    wh = start_wheelhouse(up.url)
    entry = wheels(corpus, ["delta"])[0]
    data = open(os.path.join(corpus[0], entry["filename"]), "rb").read()
    path = file_url("", entry)
    follower = socket.create_connection(("127.0.0.1", wh.port), timeout=30)
    follower.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    head, _ = read_head(follower)
    assert head.startswith("HTTP/1.1 200") and "Accept-Ranges: bytes" in head and "X-Cache: MISS" in head
    try:
        # The first 64 KiB arrive at once: a range within them is a 206 from the temp file.
        assert wait_until(lambda: ranged(wh.port, path, "bytes=0-99")[0] == 206, timeout=10)
        status, head, body = ranged(wh.port, path, "bytes=1000-4999")
        assert status == 206 and body == data[1000:5000] and f"Content-Range: bytes 1000-4999/{len(data)}" in head
        # Not all written yet: a 206 that follows the download (pip's lazy wheel takes any answer
        # to a range as that range's bytes); past the declared length: 416; malformed: the whole body.
        status, head, _ = ranged(wh.port, path, "bytes=-100", read_body=False)
        assert status == 206 and f"Content-Range: bytes {len(data) - 100}-{len(data) - 1}/{len(data)}" in head
        status, head, body = ranged(wh.port, path, "bytes=60000-70000")  # crosses what was written
        assert status == 206 and body == data[60000:70001]
        status, head, _ = ranged(wh.port, path, f"bytes={len(data)}-")
        assert status == 416 and f"Content-Range: bytes */{len(data)}" in head
        status, head, _ = ranged(wh.port, path, "bytes=0-1,5-6")
        assert status == 200 and f"Content-Length: {len(data)}" in head
        assert up.file_requests() == 1, "every answer came from the one download"
    finally:
        follower.close()


def test_concurrent_requests_share_one_ranged_read(start_upstream, start_wheelhouse, corpus):
    up = start_upstream("--no-metadata", "--latency-ms", "200")
    wh = start_wheelhouse(up.url)
    http_get(f"{wh.url}/root/pypi/+simple/iota/")
    entry = wheels(corpus, ["iota"])[0]
    results = []
    threads = [threading.Thread(target=lambda: results.append(http_get(file_url(wh.url, entry) + ".metadata")))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 8 and all(r[0] == 200 and r[2] == own_metadata(corpus, entry) for r in results)
    assert wh.read_log().count("event=upstream_metadata_ranged") == 1
    assert up.counts()[f"/files/{entry['filename']}"] <= RANGED_REQUESTS_PER_SMALL_WHEEL


RANGED_REQUESTS_PER_SMALL_WHEEL = 2  # the tail, then the METADATA member at the archive's start


def test_malformed_wheels_answer_502(start_wheelhouse, tmp_path):
    from harness import FakeUpstream
    corpus_dir = tmp_path / "bad-corpus"
    corpus_dir.mkdir()
    files = {"bad-1.0-py3-none-any.whl": bytes(range(256)) * 200,  # no end record anywhere
             "bad-2.0-py3-none-any.whl": b"x" * 100_000 + b"PK\x05\x06" + b"\x00" * 4 + b"\xff" * 12 + b"\x00\x00"}
    index = {"bad": [{"filename": name, "version": name.split("-")[1], "sha256": hashlib.sha256(data).hexdigest(),
                      "size": len(data), "requires-python": None, "yanked": None} for name, data in files.items()]}
    for name, data in files.items():
        (corpus_dir / name).write_bytes(data)
    (corpus_dir / "index.json").write_text(json.dumps(index))
    up = FakeUpstream(str(corpus_dir), str(tmp_path / "bad-upstream.log"), "--no-metadata")
    try:
        wh = start_wheelhouse(up.url)
        http_get(f"{wh.url}/root/pypi/+simple/bad/")
        for entry in index["bad"]:
            status, _, body = http_get(file_url(wh.url, entry) + ".metadata")
            assert status == 502 and body.count(b"\n") == 1 and b"cannot read METADATA" in body, body
        assert http_get(f"{wh.url}/+status")[0] == 200
        assert whole_wheel_gets(up) == 0 and wheel_bytes_served(up) < 100_000
    finally:
        up.stop()
