"""Misbehaving clients cannot hurt the transfer, the cache or other clients."""
import hashlib
import os
import socket
import time

from harness import file_url, http_get, raw_get, raw_request, wait_until


def test_client_disconnect_does_not_cancel_the_transfer(start_upstream, start_wheelhouse, corpus, tmp_path, fd_baseline):
    entry = next(f for f in corpus[1]["delta"] if f["filename"].endswith(".whl"))
    up = start_upstream("--rate-kbps", "200")  # ~1.5 s for delta's ~300 kB wheel
    data = str(tmp_path / "data")
    wh = start_wheelhouse(up.url, data)
    fd_baseline(wh, up)
    status, head, body, _ = raw_get(wh.port, file_url("", entry), max_bytes=1000)  # then hang up
    assert status == b"HTTP/1.1 200 OK"
    target = os.path.join(data, "files", entry["sha256"][:3], entry["sha256"][3:16], entry["filename"])
    assert wait_until(lambda: os.path.exists(target), timeout=30), "the download completed for the cache"
    with open(target, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == entry["sha256"]
    status, headers, body = http_get(file_url(wh.url, entry))
    assert status == 200 and headers["X-Cache"] == "HIT"
    assert up.counts()[f"/files/{entry['filename']}"] == 1


def test_unfinished_request_head_is_dropped_after_timeout(start_upstream, start_wheelhouse, fd_baseline):
    wh = start_wheelhouse(start_upstream().url, None, "--header-timeout", "1")
    fd_baseline(wh)
    with socket.create_connection(("127.0.0.1", wh.port), timeout=20) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # never finished
        started = time.monotonic()
        assert http_get(f"{wh.url}/+status")[0] == 200, "others are served meanwhile"
        assert s.recv(100) == b"", "the server closed the connection"
        assert time.monotonic() - started < 10


def test_idle_connection_flood_does_not_lock_out_requests(start_upstream, start_wheelhouse, fd_baseline):
    wh = start_wheelhouse(start_upstream().url, None, "--max-connections", "20")
    fd_baseline(wh)
    idle = [socket.create_connection(("127.0.0.1", wh.port), timeout=10) for _ in range(60)]
    try:
        for _ in range(5):
            status, _, _ = http_get(f"{wh.url}/+status")
            assert status == 200
        assert wait_until(lambda: len(os.listdir(f"/proc/{wh.pid}/fd")) < 20 + 15, timeout=10), \
            "open connections stay bounded"
    finally:
        for s in idle:
            s.close()


def test_keep_alive_and_pipelining(start_upstream, start_wheelhouse):
    wh = start_wheelhouse(start_upstream().url)
    data = raw_request(wh.port, b"GET /+status HTTP/1.1\r\nHost: x\r\n\r\nHEAD /+status HTTP/1.1\r\nHost: x\r\n\r\n"
                                b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert data.count(b"HTTP/1.1 200 OK") == 2 and data.count(b"HTTP/1.1 404 Not Found") == 1


def test_low_fd_limit_caps_connections_instead_of_failing(start_upstream, tmp_path):
    """With only 64 fds allowed, 100 idle clients must not starve the server of fds."""
    import shutil
    from harness import Server
    up = start_upstream()
    wh_binary = os.environ.get("WHEELHOUSE_BIN")
    server = Server([shutil.which("prlimit"), "--nofile=64:64", wh_binary, "serve", "--host", "127.0.0.1", "--port", "0",
                     "--data-dir", str(tmp_path / "data"), "--upstream", up.url],
                    str(tmp_path / "limited.log"), r"event=listening .*port=(\d+)")
    try:
        idle = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(100)]
        try:
            for _ in range(3):
                assert http_get(f"http://127.0.0.1:{server.port}/+status")[0] == 200
            assert http_get(f"http://127.0.0.1:{server.port}/root/pypi/+simple/alpha/")[0] == 200
        finally:
            for s in idle:
                s.close()
        assert "accept_failed" not in open(str(tmp_path / "limited.log")).read()
    finally:
        server.stop()
