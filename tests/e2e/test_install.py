"""pip installs through wheelhouse: cold, warm with upstream gone, and after a restart."""
import os

PACKAGES = ["alpha", "mu", "eta", "zeta", "Epsilon-Pkg"]
# alpha 2.0 pulls beta, gamma, delta; mu pulls kappa, iota, lambda-pkg; eta pulls theta.
EXPECTED = {"alpha": "2.0", "beta": "1.0", "gamma": "1.0", "delta": "1.0", "mu": "1.0", "kappa": "1.0",
            "iota": "1.0", "lambda-pkg": "1.0", "eta": "1.0", "theta": "1.0", "zeta": "1.0", "epsilon-pkg": "1.0"}


def install(venv, wh, *packages):
    result = venv.pip("install", "--no-cache-dir", "--index-url", wh.index_url, *packages)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def assert_installed(venv):
    installed = venv.installed()
    for name, version in EXPECTED.items():
        assert installed.get(name) == version, (name, installed)


def test_cold_then_warm_install_with_upstream_stopped(start_upstream, start_wheelhouse, venv_factory):
    up = start_upstream()
    wh = start_wheelhouse(up.url)

    install(venv_factory(), wh, *PACKAGES)
    cold_files = up.file_requests()
    # Twelve wheels, each fetched exactly once; zeta 2.0 needs Python >= 3.99 and gamma 1.1 is yanked.
    assert cold_files == 12, up.counts()
    assert "/files/zeta-2.0-py3-none-any.whl" not in up.counts()
    assert "/files/gamma-1.1-py3-none-any.whl" not in up.counts()

    up.stop()
    venv = venv_factory()
    result = install(venv, wh, *PACKAGES)
    assert_installed(venv)
    assert "X-Cache" not in result.stdout
    # Every file came from the cache: the upstream (now gone) saw no new file request.
    log = wh.read_log()
    assert log.count("cache=HIT") >= 12


def test_warm_install_makes_zero_upstream_file_requests(start_upstream, start_wheelhouse, venv_factory):
    up = start_upstream()
    wh = start_wheelhouse(up.url)
    install(venv_factory(), wh, *PACKAGES)
    before = up.counts()
    venv = venv_factory()
    install(venv, wh, *PACKAGES)
    after = up.counts()
    assert {k: v for k, v in after.items() if k.startswith("/files/")} == \
           {k: v for k, v in before.items() if k.startswith("/files/")}
    # Pages are fresh (TTL 30 min), so not even a page request went upstream.
    assert after == before
    assert_installed(venv)


def test_restart_then_install_offline(start_upstream, start_wheelhouse, venv_factory, tmp_path):
    up = start_upstream()
    data = str(tmp_path / "data")
    wh = start_wheelhouse(up.url, data)
    install(venv_factory(), wh, *PACKAGES)
    wh.stop()
    up.stop()

    # Same data directory, upstream unreachable (its port is closed now).
    wh2 = start_wheelhouse(up.url, data)
    assert "cached_files=12" in wh2.read_log()
    venv = venv_factory()
    install(venv, wh2, *PACKAGES)
    assert_installed(venv)


def test_expired_pages_are_served_stale_when_upstream_is_down(start_upstream, start_wheelhouse, venv_factory, tmp_path):
    up = start_upstream()
    data = str(tmp_path / "data")
    wh = start_wheelhouse(up.url, data, "--index-ttl", "0")
    install(venv_factory(), wh, "alpha")
    up.stop()
    venv = venv_factory()
    install(venv, wh, "alpha")
    assert venv.installed()["alpha"] == "2.0"
    log = wh.read_log()
    assert "cache=STALE" in log and "event=serving_stale_page" in log


def test_pip_download_through_html_upstream(start_upstream, start_wheelhouse, venv_factory, tmp_path, corpus):
    """An upstream that only speaks PEP 503 HTML (relative links, #sha256 fragments)."""
    up = start_upstream("--mode", "html")
    wh = start_wheelhouse(up.url)
    dest = str(tmp_path / "dl")
    venv = venv_factory()
    result = venv.pip("download", "--no-cache-dir", "--index-url", wh.index_url, "-d", dest, "mu")
    assert result.returncode == 0, result.stdout + result.stderr
    got = sorted(os.listdir(dest))
    assert got == ["iota-1.0-py3-none-any.whl", "kappa-1.0-py3-none-any.whl",
                   "lambda_pkg-1.0-py3-none-any.whl", "mu-1.0-py3-none-any.whl"]
    from harness import sha256_file
    expected = {f["filename"]: f["sha256"] for files in corpus[1].values() for f in files}
    for name in got:
        assert sha256_file(os.path.join(dest, name)) == expected[name]
