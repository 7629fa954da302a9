"""No path traversal, no open proxy, clear errors for bad requests."""
import pytest

from harness import http_get, raw_request


@pytest.mark.parametrize("path", [
    "/root/pypi/+f/../../../../etc/passwd",
    "/root/pypi/+f/%2e%2e/%2e%2e/etc/passwd",
    "/root/pypi/+f/abc/0123456789abc/..%2f..%2fetc%2fpasswd",
    "/root/pypi/+f/abc/0123456789abc/%2e%2e",
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


def unhashed_file_url(base, filename, upstream_url):
    """wheelhouse's +f URL for a file upstream listed without a sha256 (keyed by its URL's hash)."""
    import hashlib
    h = hashlib.sha256(upstream_url.encode()).hexdigest()
    return f"{base}/root/pypi/+f/{h[:3]}/{h[3:16]}/{filename}"


def test_no_fetch_reaches_private_addresses_the_upstream_is_not_on(start_upstream, start_wheelhouse, corpus):
    """The upstream is on loopback, so loopback is allowed; link-local (the cloud metadata
    service) and private networks are not, whether a page links there or a redirect points
    there. The check runs on the resolved address before connecting: nothing is sent."""
    from harness import file_url
    up = start_upstream()
    wh = start_wheelhouse(up.url)
    http_get(f"http://127.0.0.1:{up.port}/_control?private_links=1")
    assert http_get(f"{wh.url}/root/pypi/+simple/theta/")[0] == 200
    links = {"theta-9.0.tar.gz": ("http://169.254.169.254/latest/theta-9.0.tar.gz", b"link-local"),
             "theta-9.1.tar.gz": (f"http://10.255.255.1:{up.port}/files/theta-9.1.tar.gz", b"private"),
             "theta-9.2.tar.gz": ("http://[fe80::1]/theta-9.2.tar.gz", b"link-local")}
    for filename, (url, kind) in links.items():
        status, _, body = http_get(unhashed_file_url(wh.url, filename, url))
        assert status == 502 and b"refused to connect" in body and kind in body, body
    # A redirect from the upstream itself to the metadata service is refused as well.
    http_get(f"http://127.0.0.1:{up.port}/_control?redirect_private=1")
    entry = next(f for f in corpus[1]["theta"] if f["filename"].endswith(".whl"))
    status, _, body = http_get(file_url(wh.url, entry))
    assert status == 502 and b"refused to connect" in body and b"169.254.169.254" in body, body


def test_unverified_files_are_counted_and_marked(start_upstream, start_wheelhouse):
    """A file listed without a sha256 (here: a link to the upstream's own /_stats) can only be
    checked against nothing: it is served, but the log and /+status say it is unverified."""
    import json
    up = start_upstream()
    wh = start_wheelhouse(up.url)
    http_get(f"http://127.0.0.1:{up.port}/_control?unhashed_stats_link=1")
    assert http_get(f"{wh.url}/root/pypi/+simple/theta/")[0] == 200
    status, _, _ = http_get(unhashed_file_url(wh.url, "theta-9.3.tar.gz", f"http://127.0.0.1:{up.port}/_stats"))
    assert status == 200
    assert json.loads(http_get(f"{wh.url}/+status")[2])["result"]["unverified-files"] == 1
    assert 'verified="no (upstream gave no sha256)"' in wh.read_log()
    assert "wheelhouse_unverified_files_total 1" in http_get(f"{wh.url}/+metrics")[2].decode()
