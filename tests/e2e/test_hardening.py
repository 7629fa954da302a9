"""One client must not crash the server, grow its memory, or lock others out.

Each test plays an attacker (or a broken client) over raw sockets, then checks the
outcome: the status the client saw, the server still answering, its RSS, its fd
count, its log line and counters.
"""
import hashlib
import json
import os
import re
import select
import shutil
import socket
import threading
import time

import pytest

from harness import FakeUpstream, Server, file_url, http_get, raw_get, raw_request, wait_until
from conftest import BINARY


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def status_json(wh):
    status, _, body = http_get(f"{wh.url}/+status", headers={"Accept": "application/json"})
    assert status == 200
    return json.loads(body)["result"]


def closed_count(wh, reason):
    return status_json(wh)["connections-closed"][reason]


def read_until_closed(sock, timeout=20, limit=1 << 26):
    """Everything the peer sends until it closes (a reset after our data counts as closed)."""
    sock.settimeout(timeout)
    data = bytearray()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(data) < limit:
        try:
            chunk = sock.recv(1 << 16)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return bytes(data)


def test_deep_pipelining_is_answered_in_order(start_upstream, start_wheelhouse):
    """4,000 pipelined requests in one write (it crashed the server: one stack frame
    chain per request). Every one is answered, in order, and the server lives on."""
    wh = start_wheelhouse(start_upstream().url, None, "--log-level", "error")
    # Alternating answers (HEAD 200, GET 404) show the order is kept.
    requests = b"".join(b"HEAD /+status HTTP/1.1\r\nHost: x\r\n\r\n" if i % 2 else
                        b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n" for i in range(4000))
    requests += b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", wh.port), timeout=30) as s:
        sender = threading.Thread(target=s.sendall, args=(requests,))
        sender.start()
        data = read_until_closed(s, timeout=60)
        sender.join(timeout=30)
    assert wh.proc.poll() is None, "server died"
    statuses = re.findall(rb"^HTTP/1.1 (\d{3}) ", data, re.M)
    assert statuses == [b"200" if i % 2 else b"404" for i in range(4000)] + [b"404"]
    assert http_get(f"{wh.url}/+status")[0] == 200


def test_empty_lines_before_a_request_are_bounded(start_upstream, start_wheelhouse):
    """Megabytes of CR/LF before a request line (each connection grew by what it was sent,
    with quadratic CPU): refused at the head limit, memory stays flat."""
    wh = start_wheelhouse(start_upstream().url, None, "--log-level", "error")
    before = rss_kb(wh.pid)
    chunk = b"\r\n" * 32768
    for _ in range(8):
        with socket.create_connection(("127.0.0.1", wh.port), timeout=10) as s:
            sent = 0
            try:
                while sent < 64 << 20:
                    s.sendall(chunk)
                    sent += len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
            response = read_until_closed(s, timeout=10)
            assert sent < 8 << 20, "the server kept reading CR/LF"
            assert response.startswith(b"HTTP/1.1 4"), response[:80]
    assert wh.proc.poll() is None
    assert rss_kb(wh.pid) - before < 20_000, f"RSS grew from {before} kB to {rss_kb(wh.pid)} kB"
    assert http_get(f"{wh.url}/+status")[0] == 200


class Trickler:
    """Many connections that each send a request head one byte at a time (slowloris)."""

    def __init__(self, port, count, interval=0.5):
        self.sockets = []
        for _ in range(count):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.setblocking(False)
            s.send(b"GET / HTTP/1.1\r\n")
            self.sockets.append(s)
        self.interval = interval
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopping.wait(self.interval):
            for s in self.sockets:
                try:
                    s.send(b"X")
                except OSError:
                    pass

    def open_count(self):
        """Connections the server has not closed yet (an EOF or reset tells it has)."""
        alive = 0
        for s in self.sockets:
            try:
                readable, _, _ = select.select([s], [], [], 0)
                if not readable or s.recv(1024):
                    alive += 1
            except OSError:
                pass
        return alive

    def close(self):
        self.stopping.set()
        self.thread.join(timeout=5)
        for s in self.sockets:
            s.close()


def test_slow_heads_cannot_lock_out_real_clients(corpus, start_upstream, start_wheelhouse):
    """1,030 connections trickling request heads (cap 1,024, long header timeout):
    20 real downloads still all succeed, because unfinished heads are evictable."""
    directory, index = corpus
    up = start_upstream()
    wh = start_wheelhouse(up.url, None, "--log-level", "error", "--max-connections", "1024", "--header-timeout", "120")
    entry = index["delta"][0]
    assert http_get(file_url(wh.url, entry))[0] == 200  # cached: the downloads test the server, not upstream
    slow = Trickler(wh.port, 1030)
    try:
        results = [None] * 20

        def download(i):
            results[i] = raw_get(wh.port, file_url("", entry), timeout=30)

        threads = [threading.Thread(target=download, args=(i,)) for i in range(20)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        elapsed = time.monotonic() - started
        for status, _, body, _ in results:
            assert status == b"HTTP/1.1 200 OK"
            assert hashlib.sha256(body).hexdigest() == entry["sha256"]
        assert closed_count(wh, "evicted") >= 1030 - 1024
        print(f"20 downloads beside 1,030 slow heads: {elapsed:.2f} s")
    finally:
        slow.close()
    assert wh.proc.poll() is None


def test_header_timeout_counts_from_the_first_byte(start_upstream, start_wheelhouse):
    """A head trickling one byte every 0.3 s is closed by a 2 s header timeout (the timer
    used to restart on every byte), logged once and counted."""
    wh = start_wheelhouse(start_upstream().url, None, "--header-timeout", "2")
    slow = Trickler(wh.port, 3, interval=0.3)
    try:
        assert wait_until(lambda: slow.open_count() == 0, timeout=15), "slow heads kept their connections"
    finally:
        slow.close()
    assert closed_count(wh, "header_timeout") == 3
    assert wh.read_log().count("event=connection_closed") >= 3
    assert "reason=header_timeout" in wh.read_log()


def test_a_client_that_stops_reading_a_download_is_dropped(corpus, start_upstream, start_wheelhouse):
    """A client that reads nothing of a file still downloading (rate-limited upstream,
    ~20 s) is dropped by the send timeout, with an access-log line saying why."""
    directory, index = corpus
    up = start_upstream("--rate-kbps", "1000")
    wh = start_wheelhouse(up.url, None, "--send-timeout", "2")
    entry = index["bigpkg"][0]
    with socket.create_connection(("127.0.0.1", wh.port), timeout=10) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(f"GET {file_url('', entry)} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert wait_until(lambda: "client took no bytes within the send timeout" in wh.read_log(), timeout=15), \
            "the stalled client was not dropped while the download ran"
    assert closed_count(wh, "send_timeout") == 1
    line = [l for l in wh.read_log().splitlines() if "send timeout" in l][0]
    assert "event=request" in line and "status=200" in line
    # The download itself goes on for the cache.
    assert wait_until(lambda: http_get(file_url(wh.url, entry), headers={"Cache-Control": "only-if-cached"})[0] == 200,
                      timeout=60)


@pytest.mark.parametrize("request_bytes, status", [
    (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 37\r\n\r\n"
     b"GET /+status HTTP/1.1\r\nHost: x\r\n\r\n", b"400"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0, 37\r\n\r\n", b"400"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
     b"GET /+status HTTP/1.1\r\nHost: x\r\n\r\n", b"400"),
])
def test_conflicting_framing_is_refused_and_closed(start_upstream, start_wheelhouse, request_bytes, status):
    """A second Content-Length (or any Transfer-Encoding) could smuggle a request: 400,
    and nothing after it is taken for another request."""
    wh = start_wheelhouse(start_upstream().url)
    response = raw_request(wh.port, request_bytes)
    assert response.startswith(b"HTTP/1.1 " + status), response[:80]
    assert response.count(b"HTTP/1.1 ") == 1


@pytest.mark.parametrize("request_bytes, status", [
    (b"GET /" + b"a" * 200_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", b"414"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 200_000 + b"\r\n\r\n", b"431"),
])
def test_oversized_requests_see_their_status(start_upstream, start_wheelhouse, request_bytes, status):
    """A head far past 16 KiB: the client reads 414 or 431, not a connection reset."""
    wh = start_wheelhouse(start_upstream().url)
    with socket.create_connection(("127.0.0.1", wh.port), timeout=10) as s:
        s.sendall(request_bytes)
        response = read_until_closed(s)
    assert response.startswith(b"HTTP/1.1 " + status), response[:80]
    assert http_get(f"{wh.url}/+status")[0] == 200


def test_open_files_follow_the_fd_limit(tmp_path, start_upstream):
    """Under a 128-fd limit, 200 files fetched and then served again: every one is
    answered 200 both times, and none is dropped from the cache (out of fds, 81 of 200
    got 500 and were forgotten)."""
    directory = tmp_path / "many"
    directory.mkdir()
    entries = []
    for i in range(200):
        data = os.urandom(2000)
        name = f"many-1.{i}.tar.gz"
        (directory / name).write_bytes(data)
        entries.append({"filename": name, "version": f"1.{i}", "sha256": hashlib.sha256(data).hexdigest(),
                        "size": len(data), "requires-python": None, "yanked": None})
    (directory / "index.json").write_text(json.dumps({"many": entries}))
    up = FakeUpstream(str(directory), str(tmp_path / "many-upstream.log"))
    server = Server([shutil.which("prlimit"), "--nofile=128:128", BINARY, "serve", "--host", "127.0.0.1", "--port", "0",
                     "--data-dir", str(tmp_path / "data"), "--upstream", up.url, "--log-level", "warning"],
                    str(tmp_path / "wh.log"), r"event=listening .*port=(\d+)")
    try:
        base = f"http://127.0.0.1:{server.port}"
        for round_ in ("cold", "warm"):
            statuses = [http_get(file_url(base, e))[0] for e in entries]
            assert statuses == [200] * 200, f"{round_}: {sorted(set(statuses))}"
        cached = json.loads(http_get(f"{base}/+status", headers={"Accept": "application/json"})[2])["result"]
        assert cached["cached-files"] == 200
        assert up.file_requests() == 200
    finally:
        server.stop()
        up.stop()


def test_clients_that_leave_while_upstream_works_free_their_connections(start_upstream, start_wheelhouse):
    """30 clients ask for a page upstream is slow to give (20 s) and hang up at once: their
    connections are closed now, not when upstream answers (they filled every slot)."""
    up = start_upstream("--latency-ms", "20000")
    wh = start_wheelhouse(up.url, None, "--page-timeout", "60")
    for _ in range(30):
        with socket.create_connection(("127.0.0.1", wh.port), timeout=5) as s:
            s.sendall(b"GET /root/pypi/+simple/alpha/ HTTP/1.1\r\nHost: x\r\n\r\n")
    assert wait_until(lambda: closed_count(wh, "client_hung_up") == 30, timeout=10)
    # Only the /+status request itself (and perhaps the previous one, still closing).
    assert status_json(wh)["open-connections"] <= 2


def test_a_pipelining_client_does_not_hold_the_loop(start_upstream, start_wheelhouse):
    """4,000 pipelined /+status requests on one connection; a second client's request sent
    right after is answered within a few dozen of them, not after the whole batch."""
    wh = start_wheelhouse(start_upstream().url)
    other = socket.create_connection(("127.0.0.1", wh.port), timeout=30)
    hog = socket.create_connection(("127.0.0.1", wh.port), timeout=30)
    reader = threading.Thread(target=read_until_closed, args=(hog, 60))
    reader.start()
    hog.sendall(b"HEAD /+status HTTP/1.1\r\n\r\n" * 4000 + b"HEAD /+status?last HTTP/1.1\r\nConnection: close\r\n\r\n")
    other.sendall(b"GET /+status?other HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert read_until_closed(other).startswith(b"HTTP/1.1 200")
    reader.join(timeout=60)
    hog.close()
    other.close()
    assert wait_until(lambda: "path=/+status?last" in wh.read_log(), timeout=20)
    ids = {}
    for line in wh.read_log().splitlines():
        m = re.search(r" id=(\d+) .*path=/\+status(\?\w+)? ", line)
        if m and "event=request" in line:
            ids.setdefault(m.group(2) or "hog", []).append(int(m.group(1)))
    before_other = sum(1 for i in ids["hog"] if i < ids["?other"][0])
    assert before_other < 1000, f"{before_other} pipelined requests were answered before the other client's"


def test_a_burst_past_the_cap_does_not_reset_real_requests(start_upstream, start_wheelhouse):
    """At a cap of 20, with 20 silent connections open: a burst of 40 real requests all get
    their answer. (Accepting a burst before reading any of it took the newest connections
    for idle ones and evicted them with their request unread: the client saw a reset.)"""
    wh = start_wheelhouse(start_upstream().url, None, "--max-connections", "20", "--log-level", "error")
    silent = [socket.create_connection(("127.0.0.1", wh.port), timeout=5) for _ in range(20)]
    results = []

    def ask():
        try:
            results.append(raw_request(wh.port, b"GET /+status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")[:12])
        except OSError as e:
            results.append(repr(e).encode())
    try:
        askers = [threading.Thread(target=ask) for _ in range(40)]
        for t in askers:
            t.start()
        for t in askers:
            t.join(timeout=30)
    finally:
        for s in silent:
            s.close()
    assert results == [b"HTTP/1.1 200"] * 40, results


def test_unread_input_after_a_response_does_not_reset_it(corpus, start_upstream, start_wheelhouse):
    """`Connection: close` followed by 100 kB the server will never read: the whole file
    still arrives (closing with unread input used to reset the connection mid-body)."""
    directory, index = corpus
    wh = start_wheelhouse(start_upstream().url)
    entry = index["alpha"][1]
    url = file_url("", entry)
    assert http_get(wh.url + url)[0] == 200
    with socket.create_connection(("127.0.0.1", wh.port), timeout=10) as s:
        s.sendall(f"GET {url} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode() + b"X" * 100_000)
        data = read_until_closed(s)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and hashlib.sha256(body).hexdigest() == entry["sha256"]


def test_framing_details(corpus, start_upstream, start_wheelhouse):
    """304 carries no Content-Length; HTTP/1.0 keep-alive is announced; two Range fields are
    both ignored (the whole file)."""
    directory, index = corpus
    wh = start_wheelhouse(start_upstream().url)
    entry = index["gamma"][0]
    url = file_url("", entry)
    status, headers, _ = http_get(wh.url + url)
    assert status == 200
    not_modified = raw_request(wh.port, f'GET {url} HTTP/1.1\r\nHost: x\r\nIf-None-Match: {headers["ETag"]}\r\n'
                                        f'Connection: close\r\n\r\n'.encode())
    assert not_modified.startswith(b"HTTP/1.1 304") and b"Content-Length" not in not_modified
    with socket.create_connection(("127.0.0.1", wh.port), timeout=10) as s:
        s.sendall(b"HEAD /+status HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        head = s.recv(65536)
        assert b"Connection: keep-alive" in head
        s.sendall(b"HEAD /+status HTTP/1.0\r\n\r\n")
        assert b"Connection: close" in read_until_closed(s)
    both = raw_request(wh.port, f"GET {url} HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9\r\nRange: bytes=10-19\r\n"
                                f"Connection: close\r\n\r\n".encode())
    assert both.startswith(b"HTTP/1.1 200") and len(both.partition(b"\r\n\r\n")[2]) == entry["size"]


def test_downloads_at_once_are_bounded(corpus, start_upstream, start_wheelhouse):
    """With --max-downloads 2 and two slow downloads running, a third uncached file gets
    503 with Retry-After (unbounded downloads each held a socket and a temp file: clients
    that asked and left could exhaust the fds); a cached file is still served."""
    directory, index = corpus
    up = start_upstream("--rate-kbps", "50")
    wh = start_wheelhouse(up.url, None, "--max-downloads", "2")
    cached = index["theta"][0]
    assert http_get(file_url(wh.url, cached))[0] == 200
    slow = []
    for entry in (index["bigpkg"][0], index["delta"][0]):
        s = socket.create_connection(("127.0.0.1", wh.port), timeout=10)
        s.sendall(f"GET {file_url('', entry)} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        slow.append(s)
    try:
        assert wait_until(lambda: wh.read_log().count("event=upstream_file_start") >= 3, timeout=10)
        status, headers, body = http_get(file_url(wh.url, index["iota"][0]))
        assert status == 503 and headers["Retry-After"] == "1" and b"--max-downloads" in body
        assert "event=download_refused" in wh.read_log()
        assert http_get(file_url(wh.url, cached))[0] == 200
    finally:
        for s in slow:
            s.close()
