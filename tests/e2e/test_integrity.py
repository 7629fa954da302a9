"""Bad bytes are never cached and never served as complete."""
import glob
import os
import socket
import time

from harness import http_get


def file_url(wh, corpus_index, project, filename):
    entry = next(f for f in corpus_index[project] if f["filename"] == filename)
    h = entry["sha256"]
    return f"{wh.url}/root/pypi/+f/{h[:3]}/{h[3:16]}/{filename}", entry


def test_hash_mismatch_is_rejected_and_not_cached(start_upstream, start_wheelhouse, venv_factory, corpus, tmp_path):
    bad = "corrupt-1.0-py3-none-any.whl"
    up = start_upstream("--corrupt", bad)
    data = str(tmp_path / "data")
    wh = start_wheelhouse(up.url, data)

    result = venv_factory().pip("install", "--no-cache-dir", "--index-url", wh.index_url, "corrupt")
    assert result.returncode != 0

    # The raw client sees the response cut short: fewer bytes than Content-Length.
    url, entry = file_url(wh, corpus[1], "corrupt", bad)
    host, port = "127.0.0.1", wh.port
    path = url.split(str(port), 1)[1]
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        data_in = b""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            data_in += chunk
    head, _, body = data_in.partition(b"\r\n\r\n")
    assert b"200 OK" in head.split(b"\r\n")[0]
    assert f"Content-Length: {entry['size']}".encode() in head
    assert len(body) < entry["size"]

    # Nothing of it is in the cache, and the temp directory is clean.
    assert not glob.glob(os.path.join(data, "files", "*", "*", bad))
    assert os.listdir(os.path.join(data, "tmp")) == []
    assert "sha256 mismatch" in wh.read_log()


def test_kill9_mid_download_leaves_no_partial_file(start_upstream, start_wheelhouse, corpus, tmp_path):
    up = start_upstream("--rate-kbps", "100")  # delta's wheel (~300 kB) takes ~3 s
    data = str(tmp_path / "data")
    wh = start_wheelhouse(up.url, data)
    url, entry = file_url(wh, corpus[1], "delta", "delta-1.0-py3-none-any.whl")
    status, _, _ = http_get(f"{wh.url}/root/pypi/+simple/delta/")
    assert status == 200
    with socket.create_connection(("127.0.0.1", wh.port), timeout=10) as s:
        s.sendall(f"GET {url.split(str(wh.port), 1)[1]} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        got = s.recv(65536)  # the head and the first bytes: the download is under way
        assert b"200 OK" in got
        deadline = time.monotonic() + 10
        while not os.listdir(os.path.join(data, "tmp")) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert os.listdir(os.path.join(data, "tmp")), "a temp file exists while downloading"
        wh.kill9()

    assert not glob.glob(os.path.join(data, "files", "*", "*", "delta-1.0-py3-none-any.whl"))
    wh2 = start_wheelhouse(up.url, data)
    assert os.listdir(os.path.join(data, "tmp")) == [], "start-up removes leftovers"
    assert "cached_files=0" in wh2.read_log()
    status, _, body = http_get(url.replace(wh.url, wh2.url))
    assert status == 200 and len(body) == entry["size"]
