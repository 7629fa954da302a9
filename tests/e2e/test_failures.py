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
    # Upstream is now known to be failing: an uncached page is refused at once with 503 and a
    # Retry-After (pip and uv retry that), saying why.
    status, headers, body = http_get(f"{wh.url}/root/pypi/+simple/beta/")
    assert status == 503 and b"503" in body and b"failing since" in body and one_line(body)
    assert int(headers["Retry-After"]) >= 1


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


def test_connection_after_an_overrun_is_not_reused(start_upstream, start_wheelhouse, corpus, tmp_path):
    """Upstream declares half the file, sends it, then the other half on the same kept-alive
    connection. The first file fails verification; the next request must not read those
    leftovers as its response (`Received HTTP/0.9 when not allowed`)."""
    import hashlib
    first = next(f for f in corpus[1]["delta"] if f["filename"].endswith(".whl"))
    second = next(f for f in corpus[1]["delta"] if f["filename"].endswith(".tar.gz"))
    up = start_upstream()
    wh = start_wheelhouse(up.url, str(tmp_path / "data"))
    assert http_get(f"{wh.url}/root/pypi/+simple/delta/")[0] == 200
    http_get(f"http://127.0.0.1:{up.port}/_control?overrun=500")
    status, _, body, _ = raw_get(wh.port, file_url("", first), timeout=30)
    assert len(body) < first["size"], "cut short: the half did not verify"
    http_get(f"http://127.0.0.1:{up.port}/_control?overrun=0")
    status, _, body = http_get(file_url(wh.url, second))
    assert status == 200 and hashlib.sha256(body).hexdigest() == second["sha256"], body[:200]
    assert "HTTP/0.9" not in wh.read_log()


def test_a_discarded_connection_never_cuts_the_transfer_that_took_it_over(start_upstream, start_wheelhouse, corpus,
                                                                            tmp_path):
    """31 files at once, more than the per-host connection limit, every other one corrupt.
    A corrupt file's connection is discarded when its hash fails; libcurl may already have
    handed that connection to a queued download in the same call. Shutting the socket down
    then cut the good download short ("transfer closed with N bytes remaining"; 4 rounds
    of 5 here). Every good file must arrive whole, from one upstream request each, in
    each of three rounds on a fresh cache."""
    import hashlib
    import json
    from concurrent.futures import ThreadPoolExecutor
    entries = sorted((f for files in corpus[1].values() for f in files if f["size"] < 5_000_000),
                     key=lambda f: f["filename"])
    corrupt = {f["filename"] for f in entries[::2]}
    up = start_upstream(*[a for name in sorted(corrupt) for a in ("--corrupt", name)])

    def fetch(wh, entry):
        return entry, raw_get(wh.port, file_url("", entry), timeout=60)

    for round in range(1, 4):
        http_get(f"http://127.0.0.1:{up.port}/_control?latency_ms=0")
        wh = start_wheelhouse(up.url, str(tmp_path / f"data{round}"))
        for project in corpus[1]:
            assert http_get(f"{wh.url}/root/pypi/+simple/{project}/")[0] == 200
        http_get(f"http://127.0.0.1:{up.port}/_control?latency_ms=150")  # all in flight together
        with ThreadPoolExecutor(len(entries)) as pool:
            results = list(pool.map(lambda e: fetch(wh, e), entries))
        cut = []
        for entry, (status, _, body, _) in results:
            if entry["filename"] in corrupt:
                assert hashlib.sha256(body).hexdigest() != entry["sha256"]
            elif not (status.startswith(b"HTTP/1.1 200") and hashlib.sha256(body).hexdigest() == entry["sha256"]):
                cut.append((entry["filename"], status, len(body), entry["size"]))
        assert not cut, f"round {round}: good downloads cut short: {cut}"
        counts = json.loads(http_get(f"http://127.0.0.1:{up.port}/_stats")[2])["counts"]
        assert all(counts.get(f"/files/{e['filename']}") == round for e in entries if e["filename"] not in corrupt), counts
        wh.stop()


def test_a_file_of_another_size_than_the_page_says_is_refused_before_any_byte(start_upstream, start_wheelhouse, corpus, tmp_path):
    """PEP 700 `size` bounds a download: a body of another length (a swapped or padded
    object) gets a 502 with the reason instead of a 200 cut short, and is never cached."""
    wheel = next(f for f in corpus[1]["delta"] if f["filename"].endswith(".whl"))
    up = start_upstream()
    wh = start_wheelhouse(up.url, str(tmp_path / "data"))
    assert http_get(f"{wh.url}/root/pypi/+simple/delta/")[0] == 200
    http_get(f"http://127.0.0.1:{up.port}/_control?overrun=1")  # declares half the length
    status, _, body, _ = raw_get(wh.port, file_url("", wheel), timeout=30)
    assert status.startswith(b"HTTP/1.1 502") and b"wrong size" in body, (status, body[:300])
    assert cached_files(str(tmp_path / "data")) == []


def test_invalid_json_entries_are_skipped_not_fatal(start_upstream, start_wheelhouse):
    import json
    up = start_upstream()
    wh = start_wheelhouse(up.url)
    http_get(f"http://127.0.0.1:{up.port}/_control?invalid_entries=1")
    status, _, body = http_get(f"{wh.url}/root/pypi/+simple/gamma/", {"Accept": "application/vnd.pypi.simple.v1+json"})
    assert status == 200, body
    assert sorted(f["filename"] for f in json.loads(body)["files"]) == \
        ["gamma-1.0-py3-none-any.whl", "gamma-1.0.tar.gz", "gamma-1.1-py3-none-any.whl", "gamma-1.1.tar.gz"]
    log = wh.read_log()
    assert log.count("event=upstream_page_entries_skipped") == 1 and "count=4" in log


def test_page_does_not_wait_behind_file_downloads_from_the_same_host(start_upstream, start_wheelhouse, corpus,
                                                                     tmp_path):
    """20 downloads in flight from the one upstream host fill libcurl's per-host limit for
    files; a page fetched meanwhile still gets a connection and answers within --page-timeout."""
    up = start_upstream()
    wh = start_wheelhouse(up.url, str(tmp_path / "data"), "--page-timeout", "5", "--shutdown-grace", "1")
    projects = [p for p in corpus[1] if p not in ("corrupt", "bigpkg")]
    for p in projects:
        assert http_get(f"{wh.url}/root/pypi/+simple/{p}/")[0] == 200
    http_get(f"http://127.0.0.1:{up.port}/_control?hang_files=20")  # connected, silent
    files = [f for p in projects for f in corpus[1][p]][:20]
    clients = []
    try:
        for f in files:
            c = socket.create_connection(("127.0.0.1", wh.port), timeout=10)
            c.sendall(f"GET {file_url('', f)} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            clients.append(c)
        assert wait_until(lambda: sum(n for p, n in up.counts().items() if p.startswith("/files/")) >= 16, timeout=10), \
            "the per-host limit for files is in use"
        status, headers, body = http_get(f"{wh.url}/root/pypi/+simple/corrupt/", timeout=30)
        assert status == 200 and headers["X-Cache"] == "MISS", body
    finally:
        for c in clients:
            c.close()


def test_one_file_closed_without_an_answer_does_not_mark_upstream_failing(start_upstream, start_wheelhouse, corpus,
                                                                         tmp_path):
    """Upstream took the connection for one file and closed it without a reply (a CDN
    hiccup): that file fails with the reason, but the host answered, so upstream is not
    marked failing and the next file is fetched at once (it used to get 503 'upstream has
    been failing' until a probe, which fails a prefetch run outright)."""
    import hashlib
    first, second = corpus[1]["delta"][:2]
    up = start_upstream()
    wh = start_wheelhouse(up.url, str(tmp_path / "data"))
    assert http_get(f"{wh.url}/root/pypi/+simple/delta/")[0] == 200
    http_get(f"http://127.0.0.1:{up.port}/_control?hang_files=1")  # connected, then closed without a word
    status, _, body = http_get(file_url(wh.url, first), timeout=30)
    assert status == 502 and b"Empty reply" in body, (status, body)
    http_get(f"http://127.0.0.1:{up.port}/_control?hang_files=0")
    status, _, body = http_get(file_url(wh.url, second), timeout=30)
    assert status == 200 and hashlib.sha256(body).hexdigest() == second["sha256"], (status, body[:300])
    assert json_status(wh)["upstream"]["state"] == "online"


def json_status(wh):
    import json
    return json.loads(http_get(f"{wh.url}/+status")[2])["result"]
