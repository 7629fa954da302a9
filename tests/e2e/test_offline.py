"""Offline means offline: everything cached installs with the upstream gone, however
it got into the cache (here: plain GETs of the wheels, never their .metadata), with
--offline, with the upstream refusing connections, and with an upstream that accepts
connections and never answers."""
import json
import os
import time

import pytest

from clients import install, installed
from harness import file_url, http_get

CLOSURE = ["alpha", "beta", "gamma", "delta"]  # alpha 2.0 needs beta and gamma; beta needs delta
EXPECTED = {"alpha": "2.0", "beta": "1.0", "gamma": "1.0", "delta": "1.0"}
FIGURES = os.path.join(os.path.dirname(__file__), "..", "..", ".build", "e2e-offline-figures.json")


def record(name, value):
    figures = json.load(open(FIGURES)) if os.path.exists(FIGURES) else {}
    figures[name] = value
    with open(FIGURES, "w") as f:
        json.dump(figures, f, indent=1)


def newest_wheels(corpus, projects):
    """The wheel a resolver picks for each project (newest version, not yanked)."""
    picked = []
    for p in projects:
        wheels = [f for f in corpus[1][p] if f["filename"].endswith(".whl") and not f["yanked"]]
        picked.append(max(wheels, key=lambda f: [int(x) for x in f["version"].split(".")]))
    return picked


def cache_wheels_by_plain_gets(wh, wheels):
    for entry in wheels:
        status, _, body = http_get(file_url(wh.url, entry))
        assert status == 200 and len(body) == entry["size"]


def page_requests(up):
    return sum(n for path, n in up.counts().items() if path.startswith("/simple/"))


@pytest.fixture
def cached_by_gets(start_upstream, start_wheelhouse, corpus, tmp_path):
    """An upstream that advertises core metadata, and a data dir holding only the closure's wheels."""
    up = start_upstream()
    data = str(tmp_path / "data")
    wh = start_wheelhouse(up.url, data)
    cache_wheels_by_plain_gets(wh, newest_wheels(corpus, CLOSURE))
    wh.stop()
    assert not any(p.endswith(".metadata") for p in up.counts()), "no client asked for metadata"
    return up, data


@pytest.mark.parametrize("client", ["pip-latest", "uv"])
def test_offline_flag(client, cached_by_gets, start_wheelhouse, corpus, tmp_path):
    up, data = cached_by_gets
    before = up.counts()
    wh = start_wheelhouse(up.url, data, "--offline")
    entry = newest_wheels(corpus, ["alpha"])[0]
    status, _, metadata = http_get(file_url(wh.url, entry) + ".metadata")
    assert status == 200 and b"Requires-Dist: beta>=1.0" in metadata
    result = install(client, wh.index_url, str(tmp_path / "t"), "alpha")
    assert result.returncode == 0, result.stdout + result.stderr
    assert installed(str(tmp_path / "t")) == EXPECTED
    assert up.counts() == before, "offline: upstream was never contacted"


@pytest.mark.parametrize("client", ["pip-latest", "uv"])
def test_upstream_refusing_connections(client, cached_by_gets, start_wheelhouse, tmp_path):
    up, data = cached_by_gets
    up.stop()
    wh = start_wheelhouse(up.url, data, "--index-ttl", "0")
    result = install(client, wh.index_url, str(tmp_path / "t"), "alpha")
    assert result.returncode == 0, result.stdout + result.stderr
    assert installed(str(tmp_path / "t")) == EXPECTED
    status = json.loads(http_get(f"{wh.url}/+status")[2])["result"]["upstream"]
    assert status["state"] == "failing" and status["failing-since"]
    metrics = http_get(f"{wh.url}/+metrics")[2].decode()
    assert "wheelhouse_upstream_up 0" in metrics
    assert "wheelhouse_upstream_failing_since_seconds 0" not in metrics


def test_hung_upstream_costs_one_page_timeout_not_one_per_page(cached_by_gets, start_wheelhouse, tmp_path):
    """An upstream that accepts and never answers: the first expired page waits out
    --page-timeout, the breaker opens, and every other page is answered from the cache
    at once; one background probe at a time checks whether upstream is back."""
    up, data = cached_by_gets
    http_get(f"http://127.0.0.1:{up.port}/_control?hang=600")
    wh = start_wheelhouse(up.url, data, "--index-ttl", "0", "--page-timeout", "3")
    before = page_requests(up)
    started = time.monotonic()
    result = install("pip-latest", wh.index_url, str(tmp_path / "t"), "alpha")
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert installed(str(tmp_path / "t")) == EXPECTED
    log = wh.read_log()
    assert log.count("event=upstream_failing") == 1
    # Without the breaker each of the 4 pages would wait for upstream; with it, the
    # first does, plus at most the probes that fit in the install.
    probes = log.count("event=upstream_probe")
    assert page_requests(up) - before == 1 + probes
    assert probes < len(CLOSURE) - 1
    record("pip install alpha (4 projects), upstream hung, --page-timeout 3: seconds", round(seconds, 2))


def test_failing_upstream_pages_list_only_cached_files(start_upstream, start_wheelhouse, corpus, tmp_path):
    """alpha 1.0 is cached, alpha 2.0 is not: while upstream fails, the page offers 1.0 only,
    so clients pick what can be served instead of failing on 2.0."""
    up = start_upstream()
    data = str(tmp_path / "data")
    wh = start_wheelhouse(up.url, data, "--index-ttl", "0")
    alpha1 = next(f for f in corpus[1]["alpha"] if f["filename"] == "alpha-1.0-py3-none-any.whl")
    cache_wheels_by_plain_gets(wh, [alpha1])
    up.stop()
    status, headers, body = http_get(f"{wh.url}/root/pypi/+simple/alpha/", {"Accept": "application/vnd.pypi.simple.v1+json"})
    assert status == 200 and headers["X-Cache"] == "STALE"
    assert [f["filename"] for f in json.loads(body)["files"]] == ["alpha-1.0-py3-none-any.whl"]
    html = http_get(f"{wh.url}/root/pypi/+simple/alpha/", {"Accept": "text/html"})[2]
    assert b"alpha-2.0" not in html and b"alpha-1.0.tar.gz" not in html
    for client in ("pip-latest", "uv"):
        result = install(client, wh.index_url, str(tmp_path / client), "alpha")
        assert result.returncode == 0, result.stdout + result.stderr
        assert installed(str(tmp_path / client)) == {"alpha": "1.0"}


def test_metadata_mismatch_prefers_upstream_when_reachable_else_the_wheels(start_upstream, start_wheelhouse, corpus,
                                                                           tmp_path):
    """Upstream advertises metadata that is not the wheel's METADATA byte for byte. While
    upstream answers, its copy is advertised and served (the mismatch logged); once it is
    gone, the page advertises and serves what was extracted from the cached wheel."""
    import hashlib
    import zipfile
    JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}
    up = start_upstream()
    http_get(f"http://127.0.0.1:{up.port}/_control?metadata_differs=1")
    data = str(tmp_path / "data")
    wh = start_wheelhouse(up.url, data, "--index-ttl", "0")
    theta, iota = (newest_wheels(corpus, [p])[0] for p in ("theta", "iota"))
    cache_wheels_by_plain_gets(wh, [theta, iota])
    assert "event=metadata_mismatch" in wh.read_log()
    with zipfile.ZipFile(os.path.join(corpus[0], theta["filename"])) as zf:
        extracted = zf.read("theta-1.0.dist-info/METADATA")

    def advertised(project, wheel):
        page = json.loads(http_get(f"{wh.url}/root/pypi/+simple/{project}/", JSON)[2])
        return next(f for f in page["files"] if f["filename"] == wheel["filename"])["core-metadata"]["sha256"]

    # Reachable: upstream's copy, fetched once.
    status, _, metadata = http_get(file_url(wh.url, theta) + ".metadata")
    assert status == 200 and metadata == extracted + b"Summary-Note: upstream's own copy\n"
    assert advertised("theta", theta) == hashlib.sha256(metadata).hexdigest()
    assert up.counts()[f"/files/{theta['filename']}.metadata"] == 1
    # Upstream gone: iota's metadata was never fetched, so what the wheel holds is advertised and served.
    up.stop()
    sha = advertised("iota", iota)  # the page fetch fails: upstream is marked failing
    status, _, metadata = http_get(file_url(wh.url, iota) + ".metadata")
    assert status == 200 and metadata.startswith(b"Metadata-Version") and b"upstream's own copy" not in metadata
    assert sha == hashlib.sha256(metadata).hexdigest()
    result = install("pip-latest", wh.index_url, str(tmp_path / "t"), "iota", "theta")
    assert result.returncode == 0, result.stdout + result.stderr
    assert installed(str(tmp_path / "t")) == {"iota": "1.0", "theta": "1.0"}
