"""Graceful shutdown, and --offline."""
import glob
import hashlib
import os
import signal
import threading

from harness import file_url, http_get, raw_get, wait_until


def sigterm_during_download(start_upstream, start_wheelhouse, corpus, tmp_path, rate_kbps, grace):
    """Starts a client download of delta's wheel at `rate_kbps`, sends SIGTERM once the
    temp file exists, and returns (entry, wheelhouse, data dir, client thread, result dict)."""
    entry = next(f for f in corpus[1]["delta"] if f["filename"].endswith(".whl"))
    up = start_upstream("--rate-kbps", rate_kbps)
    data = str(tmp_path / "data")
    wh = start_wheelhouse(up.url, data, "--shutdown-grace", grace)
    http_get(f"{wh.url}/root/pypi/+simple/delta/")
    result = {}
    t = threading.Thread(target=lambda: result.update(r=raw_get(wh.port, file_url("", entry), timeout=60)))
    t.start()
    assert wait_until(lambda: os.listdir(os.path.join(data, "tmp")), timeout=10), "download under way"
    os.kill(wh.pid, signal.SIGTERM)
    return entry, wh, data, t, result


def test_sigterm_lets_a_download_finish_then_exits_clean(start_upstream, start_wheelhouse, corpus, tmp_path):
    # ~1 s of download, 20 s of grace.
    entry, wh, data, t, result = sigterm_during_download(start_upstream, start_wheelhouse, corpus, tmp_path, "300", "20")
    t.join(60)
    status, _, body, _ = result["r"]
    assert status == b"HTTP/1.1 200 OK" and hashlib.sha256(body).hexdigest() == entry["sha256"]
    assert wh.proc.wait(timeout=30) == 0
    assert os.listdir(os.path.join(data, "tmp")) == []
    assert "event=stopped" in wh.read_log()


def test_sigterm_grace_over_leaves_no_partial_file(start_upstream, start_wheelhouse, corpus, tmp_path):
    # ~15 s of download: longer than the 1 s grace period.
    entry, wh, data, t, result = sigterm_during_download(start_upstream, start_wheelhouse, corpus, tmp_path, "20", "1")
    assert wh.proc.wait(timeout=30) == 0
    t.join(60)
    _, _, body, _ = result["r"]
    assert len(body) < entry["size"], "the client was cut short, not handed a partial file as complete"
    assert os.listdir(os.path.join(data, "tmp")) == []
    assert glob.glob(os.path.join(data, "files", "*", "*", "*")) == []


def test_offline_serves_and_lists_only_cached_files(start_upstream, start_wheelhouse, venv_factory, corpus, tmp_path):
    up = start_upstream()
    data = str(tmp_path / "data")
    wh = start_wheelhouse(up.url, data)
    result = venv_factory().pip("install", "--no-cache-dir", "--index-url", wh.index_url, "gamma")
    assert result.returncode == 0, result.stderr
    wh.stop()
    before = up.counts()

    wh = start_wheelhouse(up.url, data, "--offline")
    status, _, body = http_get(f"{wh.url}/root/pypi/+simple/gamma/", {"Accept": "text/html"})
    assert status == 200
    assert b"gamma-1.0-py3-none-any.whl" in body
    assert b"gamma-1.0.tar.gz" not in body and b"gamma-1.1" not in body, "only cached files are listed"
    venv = venv_factory()
    assert venv.pip("install", "--no-cache-dir", "--index-url", wh.index_url, "gamma").returncode == 0
    assert venv.installed()["gamma"] == "1.0"
    failed = venv.pip("install", "--no-cache-dir", "--index-url", wh.index_url, "alpha")
    assert failed.returncode != 0
    assert http_get(f"{wh.url}/root/pypi/+simple/alpha/")[0] == 404
    sdist = next(f for f in corpus[1]["gamma"] if f["filename"] == "gamma-1.0.tar.gz")
    assert http_get(file_url(wh.url, sdist))[0] == 404
    assert up.counts() == before, "offline: upstream was never contacted"
