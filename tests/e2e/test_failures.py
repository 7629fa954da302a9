"""Every upstream failure ends in a stated status or a cut-short body, never a
hang, and never leaves anything in the cache."""
import glob
import os
import socket
import time

import pytest

from harness import file_url, http_get, raw_get, wait_until


def cached_files(data):
    return [p for p in glob.glob(os.path.join(data, "files", "*", "*", "*"))]


def one_line(body):
    return body.endswith(b"\n") and body.count(b"\n") == 1


def test_connection_refused(start_wheelhouse, fd_baseline):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    wh = start_wheelhouse(f"http://127.0.0.1:{port}/simple/")
    fd_baseline(wh)
    status, _, body = http_get(f"{wh.url}/root/pypi/+simple/alpha/")
    assert status == 502 and one_line(body), body


def test_dns_failure(start_wheelhouse, fd_baseline):
    # A 70-character label cannot be encoded in DNS: the resolver fails locally,
    # without sending a query anywhere.
    wh = start_wheelhouse(f"http://{'a' * 70}.invalid/simple/")
    fd_baseline(wh)
    status, _, body = http_get(f"{wh.url}/root/pypi/+simple/alpha/")
    assert status == 502 and one_line(body) and b"resolve" in body.lower(), body


def test_connect_timeout(start_wheelhouse, fd_baseline):
    # A listener whose accept queue is full: the kernel drops further SYNs, so connecting hangs.
    blackhole = socket.socket()
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(0)
    port = blackhole.getsockname()[1]
    fillers = []
    for _ in range(4):
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex(("127.0.0.1", port))
        fillers.append(c)
    try:
        wh = start_wheelhouse(f"http://127.0.0.1:{port}/simple/", None, "--connect-timeout", "1")
        fd_baseline(wh)
        started = time.monotonic()
        status, _, body = http_get(f"{wh.url}/root/pypi/+simple/alpha/", timeout=30)
        elapsed = time.monotonic() - started
        assert status in (502, 504) and one_line(body), body
        assert elapsed < 15, "bounded by the connect timeout, not a hang"
    finally:
        for c in fillers:
            c.close()
        blackhole.close()


def test_page_timeout_answers_504(start_upstream, start_wheelhouse, fd_baseline):
    up = start_upstream()
    wh = start_wheelhouse(up.url, None, "--page-timeout", "1")
    fd_baseline(wh, up)
    http_get(f"http://127.0.0.1:{up.port}/_control?latency_ms=5000")
    status, _, body = http_get(f"{wh.url}/root/pypi/+simple/alpha/", timeout=30)
    assert status == 504 and one_line(body), body


def test_404_is_answered_and_remembered(start_upstream, start_wheelhouse):
    up = start_upstream()
    wh = start_wheelhouse(up.url)
    for _ in range(3):
        status, _, body = http_get(f"{wh.url}/root/pypi/+simple/no-such-project/")
        assert status == 404 and one_line(body)
    assert up.counts()["/simple/no-such-project/"] == 1


def test_5xx_without_cache_is_502_and_with_cache_is_stale(start_upstream, start_wheelhouse, tmp_path):
    up = start_upstream()
    data = str(tmp_path / "data")
    wh = start_wheelhouse(up.url, data, "--index-ttl", "0")
    assert http_get(f"{wh.url}/root/pypi/+simple/alpha/")[0] == 200
    http_get(f"http://127.0.0.1:{up.port}/_control?page_status=503")
    status, headers, _ = http_get(f"{wh.url}/root/pypi/+simple/alpha/")
    assert status == 200 and headers["X-Cache"] == "STALE"
    assert wh.read_log().count("event=serving_stale_page") == 1
    status, _, body = http_get(f"{wh.url}/root/pypi/+simple/beta/")
    assert status == 502 and b"503" in body and one_line(body)


@pytest.mark.parametrize("fault", ["truncate=1", "stall=30", "file_status=500"])
def test_broken_file_transfers_are_cut_short_and_not_cached(fault, start_upstream, start_wheelhouse, corpus, tmp_path,
                                                            fd_baseline):
    entry = next(f for f in corpus[1]["delta"] if f["filename"].endswith(".whl"))
    up = start_upstream()
    data = str(tmp_path / "data")
    wh = start_wheelhouse(up.url, data, "--stall-timeout", "2")
    fd_baseline(wh, up)
    assert http_get(f"{wh.url}/root/pypi/+simple/delta/")[0] == 200
    http_get(f"http://127.0.0.1:{up.port}/_control?{fault}")
    status, head, body, seconds = raw_get(wh.port, file_url("", entry), timeout=60)
    if fault == "file_status=500":
        assert status == b"HTTP/1.1 502 Bad Gateway" and one_line(body)
    else:
        assert status == b"HTTP/1.1 200 OK"
        assert f"Content-Length: {entry['size']}".encode() in head
        assert len(body) < entry["size"], "cut short before Content-Length"
    assert seconds < 30
    assert cached_files(data) == []
    assert wait_until(lambda: os.listdir(os.path.join(data, "tmp")) == [], timeout=10)


def test_redirected_files_are_followed(start_upstream, start_wheelhouse, corpus):
    entry = next(f for f in corpus[1]["theta"] if f["filename"].endswith(".whl"))
    up = start_upstream()
    wh = start_wheelhouse(up.url)
    http_get(f"http://127.0.0.1:{up.port}/_control?redirect_files=1")
    assert http_get(f"{wh.url}/root/pypi/+simple/theta/")[0] == 200
    status, headers, body = http_get(file_url(wh.url, entry))
    assert status == 200 and len(body) == entry["size"]
    import hashlib
    assert hashlib.sha256(body).hexdigest() == entry["sha256"]
    assert up.counts()[f"/real/{entry['filename']}"] == 1


def test_file_without_content_length_is_verified_then_served(start_upstream, start_wheelhouse, corpus, tmp_path):
    """Chunked upstream responses: no length to promise, so clients get the file once it is complete and verified."""
    import concurrent.futures
    import hashlib
    entry = next(f for f in corpus[1]["iota"] if f["filename"].endswith(".whl"))
    up = start_upstream()
    wh = start_wheelhouse(up.url, str(tmp_path / "data"))
    http_get(f"http://127.0.0.1:{up.port}/_control?chunked=1")
    assert http_get(f"{wh.url}/root/pypi/+simple/iota/")[0] == 200
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda _: http_get(file_url(wh.url, entry)), range(3)))
    for status, headers, body in results:
        assert status == 200 and hashlib.sha256(body).hexdigest() == entry["sha256"]
        assert headers["Content-Length"] == str(entry["size"])
    assert up.counts()[f"/files/{entry['filename']}"] == 1
    assert len(cached_files(str(tmp_path / "data"))) >= 1
