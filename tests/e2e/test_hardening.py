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
