"""A huge page never stalls the server: after a restart, a stored page of 50,000 files is
read from disk and rendered a slice per loop iteration, and small requests made
meanwhile are answered before the big page's first byte is sent (order, not time)."""
import json
import os
import select
import shutil
import socket

from harness import FakeUpstream, http_get

FILES = 50_000
JSON = "application/vnd.pypi.simple.v1+json"


def send_request(port, path, accept=JSON):
    sock = socket.create_connection(("127.0.0.1", port), timeout=120)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nAccept: {accept}\r\nConnection: close\r\n\r\n".encode())
    return sock


def has_data(sock):
    return bool(select.select([sock], [], [], 0)[0])


def read_all(sock):
    chunks = []
    while True:
        data = sock.recv(1 << 20)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def body_of(response):
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head[:200]
    return body


def test_small_requests_are_answered_while_a_huge_page_is_read_and_rendered(tmp_path, start_wheelhouse):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "index.json").write_text("{}")
    table = tmp_path / "pad.json"
    table.write_text(json.dumps({"synth-0": FILES}))  # a project that is only its listing
    up = FakeUpstream(str(corpus), str(tmp_path / "upstream.log"), "--pad-table", str(table))
    data = str(tmp_path / "data")
    try:
        wh = start_wheelhouse(up.url, data)
        # The host send_request names: links are absolute on it, the same after the restart.
        status, headers, first = http_get(f"{wh.url}/root/pypi/+simple/synth-0/", {"Accept": JSON, "Host": "t"}, timeout=300)
        assert status == 200 and len(json.loads(first)["files"]) == FILES
        wh.stop()

        # After a restart the page is on disk only (its rendered body too: dropped here, as
        # after a crash): read, then rendered, over many loop turns.
        shutil.rmtree(os.path.join(data, "rendered"))
        wh = start_wheelhouse(up.url, data)
        big = send_request(wh.port, "/root/pypi/+simple/synth-0/")
        answered_first = 0
        # /+status one after another until the big page's first byte arrives (bounded).
        for _ in range(100_000):
            if has_data(big):
                break
            status, _, _ = http_get(f"{wh.url}/+status", timeout=60)
            assert status == 200
            answered_first += 1
        # Rendered in one loop turn, at most the first /+status could come before it.
        assert answered_first >= 3, f"only {answered_first} small requests were answered before the big page"
        assert body_of(read_all(big)) == first
        assert up.counts().get("/simple/synth-0/") == 1, "served from disk after the restart"
    finally:
        up.stop()
