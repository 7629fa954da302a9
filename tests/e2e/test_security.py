"""No path traversal, no open proxy, clear errors for bad requests."""
import pytest

from harness import http_get, raw_request


@pytest.mark.parametrize("path", [
    "/root/pypi/+f/../../../../etc/passwd",
    "/root/pypi/+f/%2e%2e/%2e%2e/etc/passwd",
    "/root/pypi/+f/abc/0123456789abc/..%2f..%2fetc%2fpasswd",
    "/root/pypi/+f/abc/0123456789abc/%2e%2e",
    "//etc/passwd",
    "/root/pypi/+simple/../../etc/passwd",
    "/simple/%2e%2e/",
    "/root/pypi/+f/abc/0123456789abc/.hidden",
])
def test_path_traversal_is_refused(start_upstream, start_wheelhouse, path):
    wh = start_wheelhouse(start_upstream().url)
    response = raw_request(wh.port, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    status = int(response.split(b" ", 2)[1])
    assert 400 <= status < 500, response
    assert b"root:" not in response


def test_absolute_form_target_is_refused(start_upstream, start_wheelhouse):
    wh = start_wheelhouse(start_upstream().url)
    response = raw_request(wh.port, b"GET http://example.com/etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 400")


def test_only_files_named_by_upstream_are_fetched(start_upstream, start_wheelhouse):
    up = start_upstream()
    wh = start_wheelhouse(up.url)
    # A well-formed +f path for a file no upstream page lists: 404, and no file request upstream.
    status, _, body = http_get(f"{wh.url}/root/pypi/+f/abc/0123456789abc/alpha-9.9-py3-none-any.whl")
    assert status == 404
    assert body.endswith(b"\n") and body.count(b"\n") == 1
    assert up.file_requests() == 0


def test_bad_requests_get_one_line_errors(start_upstream, start_wheelhouse):
    wh = start_wheelhouse(start_upstream().url)
    assert raw_request(wh.port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").startswith(b"HTTP/1.1 405")
    assert raw_request(wh.port, b"GET / HTTP/2.0\r\n\r\n").startswith(b"HTTP/1.1 505")
    assert raw_request(wh.port, b"GARBAGE\r\n\r\n").startswith(b"HTTP/1.1 400")
    huge = b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n"
    assert raw_request(wh.port, huge).startswith(b"HTTP/1.1 431")
    # The server is still fine afterwards.
    status, _, _ = http_get(f"{wh.url}/+status")
    assert status == 200


def test_garbage_requests_never_crash_the_server(start_upstream, start_wheelhouse):
    """500 random mixes of request fragments and bytes (bounded, seeded): every one is
    answered or closed, and the server keeps serving."""
    import random
    import socket
    wh = start_wheelhouse(start_upstream().url, None, "--log-level", "error")
    rng = random.Random(7)
    pieces = [b"GET ", b"HEAD ", b"POST ", b"/", b"/root/pypi/+f/", b"/simple/", b"%", b"%2e", b"..", b" HTTP/1.1",
              b" HTTP/1.0", b"\r\n", b"\n", b"Host: x", b"Range: bytes=", b"-", b"0", b"9" * 30, b"If-None-Match: *",
              b"Content-Length: 5", b"Transfer-Encoding: chunked", b"Connection: close", b":", b"\x00", b"\xff", b" "]
    for _ in range(500):
        data = b"".join(rng.choice(pieces) for _ in range(rng.randint(1, 40)))
        if rng.random() < 0.3:
            data += bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 200)))
        with socket.create_connection(("127.0.0.1", wh.port), timeout=5) as s:
            s.sendall(data + (b"\r\n\r\n" if rng.random() < 0.7 else b""))
            s.shutdown(socket.SHUT_WR)
            while s.recv(65536):
                pass
        assert wh.proc.poll() is None, f"server died on {data!r}"
    assert http_get(f"{wh.url}/+status")[0] == 200
