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
