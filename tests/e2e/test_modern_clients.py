"""uv and pip at full speed: PEP 658 metadata, PEP 700, HEAD, Range, conditional
requests, gzip, ?format=. Each client command's cold and warm times are written
to .build/e2e-client-figures.json for the record."""
import gzip
import hashlib
import json
import os
import subprocess
import sys
import time
import zipfile

import pytest

from harness import file_url, http_get

UV = os.path.join(os.path.dirname(sys.executable), "uv")
FIGURES = os.path.join(os.path.dirname(__file__), "..", "..", ".build", "e2e-client-figures.json")
JSON = "application/vnd.pypi.simple.v1+json"


def record(name, seconds):
    figures = json.load(open(FIGURES)) if os.path.exists(FIGURES) else {}
    figures[name] = round(seconds, 2)
    with open(FIGURES, "w") as f:
        json.dump(figures, f, indent=1)


def uv(*args, timeout=180):
    env = dict(os.environ, UV_PYTHON_DOWNLOADS="never", UV_NO_CONFIG="1", UV_NO_CACHE="1")
    for var in ("UV_INDEX_URL", "UV_DEFAULT_INDEX", "PIP_INDEX_URL"):
        env.pop(var, None)
    started = time.monotonic()
    result = subprocess.run([UV, *args], capture_output=True, text=True, timeout=timeout, env=env)
    result.seconds = time.monotonic() - started
    return result


def test_uv_pip_install_cold_then_warm_with_upstream_stopped(start_upstream, start_wheelhouse, venv_factory):
    up = start_upstream()
    wh = start_wheelhouse(up.url)
    venv = venv_factory()
    cold = uv("pip", "install", "--python", venv.python, "--index-url", wh.index_url, "alpha", "mu")
    assert cold.returncode == 0, cold.stderr
    up.stop()
    venv2 = venv_factory()
    warm = uv("pip", "install", "--python", venv2.python, "--index-url", wh.index_url, "alpha", "mu")
    assert warm.returncode == 0, warm.stderr
    installed = venv2.installed()
    assert installed["alpha"] == "2.0" and installed["mu"] == "1.0" and installed["iota"] == "1.0"
    record("uv pip install alpha mu: cold", cold.seconds)
    record("uv pip install alpha mu: warm, upstream stopped", warm.seconds)


def test_uv_pip_compile_exclude_newer_uses_upload_time(start_upstream, start_wheelhouse, venv_factory, tmp_path):
    wh = start_wheelhouse(start_upstream().url)
    venv = venv_factory()
    requirements = tmp_path / "requirements.in"
    requirements.write_text("alpha\n")
    ok = uv("pip", "compile", "--python", venv.python, "--index-url", wh.index_url, "--exclude-newer", "2025-01-01",
            str(requirements))
    assert ok.returncode == 0, ok.stderr
    assert "alpha==2.0" in ok.stdout and "beta==1.0" in ok.stdout and "delta==1.0" in ok.stdout
    record("uv pip compile --exclude-newer", ok.seconds)
    # Every file was uploaded on 2024-01-02: nothing exists before 2023.
    too_old = uv("pip", "compile", "--python", venv.python, "--index-url", wh.index_url, "--exclude-newer", "2023-01-01",
                 str(requirements))
    assert too_old.returncode != 0


def test_pip_fast_deps_and_require_hashes(start_upstream, start_wheelhouse, venv_factory, corpus, tmp_path):
    up = start_upstream()
    wh = start_wheelhouse(up.url)
    cold = venv_factory().pip("install", "--no-cache-dir", "--use-feature=fast-deps", "--index-url", wh.index_url, "alpha")
    assert cold.returncode == 0, cold.stdout + cold.stderr
    record("pip install --use-feature=fast-deps alpha: cold", cold.seconds)
    warm = venv_factory().pip("install", "--no-cache-dir", "--use-feature=fast-deps", "--index-url", wh.index_url, "alpha")
    assert warm.returncode == 0, warm.stdout + warm.stderr
    record("pip install --use-feature=fast-deps alpha: warm", warm.seconds)

    wheels = {name: next(f for f in corpus[1][name] if f["filename"].endswith(".whl") and f["version"] == version)
              for name, version in [("alpha", "2.0"), ("beta", "1.0"), ("gamma", "1.0"), ("delta", "1.0")]}
    pinned = tmp_path / "requirements.txt"
    pinned.write_text("".join(f"{n}=={w['version']} --hash=sha256:{w['sha256']}\n" for n, w in wheels.items()))
    venv = venv_factory()
    hashed = venv.pip("install", "--no-cache-dir", "--require-hashes", "--index-url", wh.index_url, "-r", str(pinned))
    assert hashed.returncode == 0, hashed.stdout + hashed.stderr
    assert venv.installed()["delta"] == "1.0"
    record("pip install --require-hashes -r (4 pinned, warm)", hashed.seconds)


def test_cached_wheel_gets_extracted_metadata(start_upstream, start_wheelhouse, corpus):
    up = start_upstream("--no-metadata")
    wh = start_wheelhouse(up.url)
    entry = next(f for f in corpus[1]["kappa"] if f["filename"].endswith(".whl"))
    page = json.loads(http_get(f"{wh.url}/root/pypi/+simple/kappa/", {"Accept": JSON})[2])
    # Before the wheel is cached: PEP 714's `true` (read by ranges when asked; test_ranged_metadata.py).
    assert all(("core-metadata" in f) == f["filename"].endswith(".whl") for f in page["files"])
    assert http_get(file_url(wh.url, entry))[0] == 200

    page = json.loads(http_get(f"{wh.url}/root/pypi/+simple/kappa/", {"Accept": JSON})[2])
    wheel = next(f for f in page["files"] if f["filename"] == entry["filename"])
    sdist = next(f for f in page["files"] if f["filename"].endswith(".tar.gz"))
    assert "core-metadata" not in sdist
    status, headers, metadata = http_get(file_url(wh.url, entry) + ".metadata")
    assert status == 200
    assert wheel["core-metadata"] == {"sha256": hashlib.sha256(metadata).hexdigest()}
    assert "dist-info-metadata" not in wheel, "PEP 714: JSON pages carry only core-metadata"
    with zipfile.ZipFile(os.path.join(corpus[0], entry["filename"])) as zf:
        assert metadata == zf.read("kappa-1.0.dist-info/METADATA")
    assert b"Requires-Dist: iota" in metadata
    html = http_get(f"{wh.url}/root/pypi/+simple/kappa/", {"Accept": "text/html"})[2]
    assert f'data-core-metadata="sha256={hashlib.sha256(metadata).hexdigest()}"'.encode() in html
    assert up.counts().get(f"/files/{entry['filename']}.metadata") is None, "extracted, not fetched"


def test_upstream_metadata_is_advertised_and_fetched_once(start_upstream, start_wheelhouse, corpus, venv_factory):
    up = start_upstream()
    wh = start_wheelhouse(up.url)
    entry = next(f for f in corpus[1]["eta"] if f["filename"].endswith(".whl"))
    page = json.loads(http_get(f"{wh.url}/root/pypi/+simple/eta/", {"Accept": JSON})[2])
    advertised = next(f for f in page["files"] if f["filename"] == entry["filename"])["core-metadata"]["sha256"]
    for _ in range(2):
        status, _, metadata = http_get(file_url(wh.url, entry) + ".metadata")
        assert status == 200 and hashlib.sha256(metadata).hexdigest() == advertised
    assert up.counts()[f"/files/{entry['filename']}.metadata"] == 1
    # pip resolves from metadata: it needs no wheel but the ones it installs.
    result = venv_factory().pip("install", "--no-cache-dir", "--index-url", wh.index_url, "eta")
    assert result.returncode == 0, result.stderr


def test_no_metadata_for_sdists(start_upstream, start_wheelhouse, corpus):
    wh = start_wheelhouse(start_upstream("--no-metadata").url)
    http_get(f"{wh.url}/root/pypi/+simple/theta/")
    for entry in corpus[1]["theta"]:
        status, _, body = http_get(file_url(wh.url, entry) + ".metadata")
        if entry["filename"].endswith(".whl"):
            assert status == 200, "read off the uncached wheel by ranges"
        else:
            assert status == 404 and body.count(b"\n") == 1


def test_head_matches_get_on_every_route(start_upstream, start_wheelhouse, corpus):
    wh = start_wheelhouse(start_upstream().url)
    entry = next(f for f in corpus[1]["gamma"] if f["filename"].endswith(".whl"))
    http_get(file_url(wh.url, entry))
    for path in ["/", "/+status", "/root/pypi/+simple/gamma/", "/simple/gamma/", file_url("", entry), "/nope",
                 "/root/pypi/+simple/Gamma/"]:
        get_status, get_headers, get_body = http_get(wh.url + path)
        head_status, head_headers, head_body = http_get(wh.url + path, method="HEAD")
        assert head_status == get_status and head_body == b"", path
        assert head_headers["Content-Length"] == get_headers["Content-Length"] == str(len(get_body)), path
        assert head_headers.get("Content-Type") == get_headers.get("Content-Type"), path


def test_ranges_conditionals_and_cache_control_on_files(start_upstream, start_wheelhouse, corpus):
    wh = start_wheelhouse(start_upstream().url)
    entry = next(f for f in corpus[1]["delta"] if f["filename"].endswith(".whl"))
    url = file_url(wh.url, entry)
    data = open(os.path.join(corpus[0], entry["filename"]), "rb").read()
    status, headers, _ = http_get(url)  # MISS: streamed while downloading, ranges of what is written
    assert status == 200 and headers["Accept-Ranges"] == "bytes"
    status, headers, _ = http_get(url)
    assert headers["X-Cache"] == "HIT" and headers["Accept-Ranges"] == "bytes"
    assert headers["Cache-Control"] == "max-age=365000000, immutable"
    etag = headers["ETag"]

    status, headers, body = http_get(url, {"Range": "bytes=100-199"})
    assert status == 206 and body == data[100:200] and headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    status, _, body = http_get(url, {"Range": "bytes=-22"})
    assert status == 206 and body == data[-22:]
    status, _, body = http_get(url, {"Range": f"bytes={len(data) - 5}-"})
    assert status == 206 and body == data[-5:]
    status, headers, _ = http_get(url, {"Range": f"bytes={len(data)}-"})
    assert status == 416 and headers["Content-Range"] == f"bytes */{len(data)}"
    status, _, body = http_get(url, {"Range": "bytes=oops"})
    assert status == 200 and body == data
    status, _, body = http_get(url, {"Range": "bytes=0-9", "If-Range": etag})
    assert status == 206 and body == data[:10]
    status, _, body = http_get(url, {"Range": "bytes=0-9", "If-Range": '"stale"'})
    assert status == 200 and body == data
    status, headers, body = http_get(url, {"If-None-Match": etag})
    assert status == 304 and body == b"" and headers["ETag"] == etag
    # Package files are never compressed, whatever the client accepts.
    status, headers, body = http_get(url, {"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in headers and body == data


def test_pages_etag_gzip_format_and_cache_control(start_upstream, start_wheelhouse):
    wh = start_wheelhouse(start_upstream().url)
    page_url = f"{wh.url}/root/pypi/+simple/alpha/"
    status, headers, plain = http_get(page_url, {"Accept": JSON})
    assert status == 200 and headers["Cache-Control"] == "max-age=600"
    assert headers["Vary"] == "Accept, Accept-Encoding"
    status, _, body = http_get(page_url, {"Accept": JSON, "If-None-Match": headers["ETag"]})
    assert status == 304 and body == b""
    status, zipped_headers, zipped = http_get(page_url, {"Accept": JSON, "Accept-Encoding": "gzip"})
    assert zipped_headers["Content-Encoding"] == "gzip" and gzip.decompress(zipped) == plain
    assert zipped_headers["ETag"] != headers["ETag"]
    status, headers, body = http_get(page_url + "?format=" + JSON, {"Accept": "text/html"})
    assert status == 200 and headers["Content-Type"] == JSON and json.loads(body)["name"] == "alpha"
    status, headers, _ = http_get(page_url + "?format=text/html", {"Accept": JSON})
    assert headers["Content-Type"].startswith("text/html")
    assert http_get(page_url + "?format=application/xml")[0] == 406
    meta = json.loads(plain)["meta"]
    assert meta["api-version"] == "1.1"
