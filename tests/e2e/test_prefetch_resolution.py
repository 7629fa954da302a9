"""wheelhouse prefetch with dependency resolution: after a prefetch the upstream is
stopped, and pip (with dependencies and build isolation) and uv install in fresh
environments from the cache alone. The corpus (corpus.build_prefetch) holds a
dependency graph, sdist-only projects, and real setuptools/wheel wheels."""
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import urllib.parse

import pytest

import corpus as corpus_module
from harness import FakeUpstream, http_get

REAL_WHEELS = os.path.join(sys.prefix, "corpus-wheels")  # scripts/test-env.sh puts them there
UV = shutil.which("uv") or os.path.join(os.path.dirname(sys.executable), "uv")


@pytest.fixture(autouse=True)
def no_side_doors(monkeypatch):
    """Offline means the index only: no find-links directory this machine may configure."""
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    monkeypatch.delenv("UV_FIND_LINKS", raising=False)


@pytest.fixture(scope="module")
def prefetch_corpus(tmp_path_factory):
    if not any(f.startswith("setuptools-") for f in os.listdir(REAL_WHEELS) if os.path.isdir(REAL_WHEELS)):
        pytest.fail(f"no setuptools wheel in {REAL_WHEELS}: run scripts/test-env.sh (make e2e does)")
    directory = str(tmp_path_factory.mktemp("prefetch-corpus"))
    return directory, corpus_module.build_prefetch(directory, REAL_WHEELS)


@pytest.fixture
def upstream(prefetch_corpus, tmp_path):
    started = []

    def start(*extra):
        up = FakeUpstream(prefetch_corpus[0], str(tmp_path / f"upstream-{len(started)}.log"), *extra)
        started.append(up)
        return up
    yield start
    for up in started:
        up.stop()


def prefetch(wh, *args, timeout=300):
    return subprocess.run([wh.proc.args[0], "prefetch", "--server", wh.url, *args], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def pins(output, label="Python 3.11"):
    """The `name==version` lines of one resolution in prefetch's output."""
    block = re.search(rf"resolved {re.escape(label)}[^\n]*\n((?:  \S+==\S+\n)*)", output)
    assert block, output
    return {line.strip() for line in block.group(1).splitlines()}


def offline_env():
    env = dict(os.environ, PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    env.pop("PIP_INDEX_URL", None)
    return env


def uv(*args, cwd=None, env=None, timeout=180):
    env = dict(env or os.environ)
    return subprocess.run([UV, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)


def uv_install(venv, index_url, tmp_path, *args):
    env = dict(os.environ, UV_CACHE_DIR=str(tmp_path / "uv-cache"), UV_NO_CONFIG="1", UV_PYTHON_DOWNLOADS="never")
    return uv("pip", "install", "--python", venv.python, "--index-url", index_url, *args, env=env)


def test_unpinned_input_resolves_its_closure_and_installs_offline(upstream, start_wheelhouse, venv_factory, tmp_path):
    up = upstream()
    wh = start_wheelhouse(up.url)
    (tmp_path / "app.in").write_text("requests[socks]\nmodern\n")
    result = prefetch(wh, "-r", str(tmp_path / "app.in"))
    assert result.returncode == 0, result.stdout + result.stderr
    print(result.stdout)
    assert pins(result.stdout) == {"requests==2.31.0", "urllib3==2.2.1", "idna==3.6", "certifi==2024.2.2",
                                   "charset-normalizer==3.3.2", "pysocks==1.7.1", "modern==1.0"}
    assert "metadata 7" in result.stdout  # PEP 658 files, read before choosing, cached for offline resolvers
    check = prefetch(wh, "--check", "-r", str(tmp_path / "app.in"))
    assert check.returncode == 0 and "missing 0" in check.stdout, check.stdout

    up.stop()
    venv = venv_factory()
    install = venv.pip("install", "--no-cache-dir", "--index-url", wh.index_url, "-r", str(tmp_path / "app.in"))
    assert install.returncode == 0, install.stdout + install.stderr
    assert venv.installed().get("idna") == "3.6" and venv.installed().get("pysocks") == "1.7.1", (venv.installed(), install.stdout)
    other = venv_factory()
    result = uv_install(other, wh.index_url, tmp_path, "-r", str(tmp_path / "app.in"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert other.installed()["urllib3"] == "2.2.1"


def test_a_moment_of_upstream_failure_is_waited_out_not_failed(upstream, start_wheelhouse, tmp_path):
    """The server's breaker has just opened (a page fetch got 500s): a prefetch started then
    gets 503 with Retry-After for everything not cached, waits as asked, as pip does, and
    finishes once the server's probe finds upstream back (it used to fail every request)."""
    up = upstream()
    wh = start_wheelhouse(up.url)
    http_get(f"http://127.0.0.1:{up.port}/_control?page_status=500")
    assert http_get(f"{wh.url}/root/pypi/+simple/modern/")[0] >= 500
    assert json.loads(http_get(f"{wh.url}/+status")[2])["result"]["upstream"]["state"] == "failing"
    http_get(f"http://127.0.0.1:{up.port}/_control?page_status=0")
    (tmp_path / "app.in").write_text("requests==2.31.0\nmodern\n")
    result = prefetch(wh, "-r", str(tmp_path / "app.in"))
    assert result.returncode == 0 and "failed 0" in result.stdout, result.stdout + result.stderr
    assert pins(result.stdout) == {"requests==2.31.0", "urllib3==2.2.1", "idna==3.6", "certifi==2024.2.2",
                                   "charset-normalizer==3.3.2", "modern==1.0"}
    assert " status=503 " in wh.read_log(), "the prefetch met the open breaker"


def test_sdists_get_their_build_requirements(upstream, start_wheelhouse, venv_factory, tmp_path):
    up = upstream("--no-metadata")  # no PEP 658 upstream: wheels are fetched, the server extracts their metadata
    wh = start_wheelhouse(up.url)
    reqs = tmp_path / "pinned.txt"
    reqs.write_text("sdist-app==1.0\nsdistonly==1.0\nlegacysdist==1.0\nrequests==2.31.0\nurllib3==2.2.1\n"
                    "idna==3.6\ncertifi==2024.2.2\ncharset-normalizer==3.3.2\n")
    before = prefetch(wh, "--check", "-r", str(reqs))
    assert before.returncode == 1 and "missing: sdist-app: page not in the cache" in before.stdout, before.stdout

    result = prefetch(wh, "-r", str(reqs))
    assert result.returncode == 0, result.stdout + result.stderr
    print(result.stdout)
    # setuptools>=61 (pyproject.toml) and pip's default setuptools>=40.8.0 (setup.py only).
    assert "build requirements of sdistonly 1.0 (Python 3.11): setuptools==75.3.0" in result.stdout
    assert "build requirements of legacysdist 1.0 (Python 3.11): setuptools==75.3.0, wheel==0.45.1" in result.stdout
    assert "note: legacysdist 1.0: dependencies unknown" in result.stdout
    assert "fetched: setuptools-75.3.0-py3-none-any.whl" in result.stdout
    check = prefetch(wh, "--check", "-r", str(reqs))
    assert check.returncode == 0 and "missing 0" in check.stdout, check.stdout

    up.stop()
    venv = venv_factory()
    install = venv.pip("install", "--no-cache-dir", "--index-url", wh.index_url, "-r", str(reqs))
    assert install.returncode == 0, install.stdout + install.stderr
    assert venv.installed()["sdistonly"] == "1.0" and venv.installed()["legacysdist"] == "1.0"
    other = venv_factory()
    result = uv_install(other, wh.index_url, tmp_path, "-r", str(reqs))
    assert result.returncode == 0, result.stdout + result.stderr


def test_build_constraint_takes_an_older_setuptools_and_the_wheel_it_asks_for(upstream, start_wheelhouse, venv_factory, tmp_path):
    up = upstream()
    wh = start_wheelhouse(up.url)
    (tmp_path / "build-constraints.txt").write_text("setuptools<70\n")
    result = prefetch(wh, "sdistonly==1.0", "--build-constraint", str(tmp_path / "build-constraints.txt"))
    assert result.returncode == 0, result.stdout + result.stderr
    # [build-system] asks for setuptools>=61 only, but setuptools < 70.1 answers
    # get_requires_for_build_wheel with "wheel", which pip then installs: fetched too.
    assert "build requirements of sdistonly 1.0 (Python 3.11): setuptools==68.2.2, wheel==0.45.1" in result.stdout, result.stdout
    up.stop()
    venv = venv_factory()
    env_constraint = tmp_path / "build-constraints.txt"
    install = subprocess.run([venv.python, "-m", "pip", "install", "--no-cache-dir", "--index-url", wh.index_url, "sdistonly==1.0"],
                             capture_output=True, text=True, timeout=180,
                             env=dict(offline_env(), PIP_CONSTRAINT=str(env_constraint)))  # pip < 25.3 passes it to builds
    assert install.returncode == 0, install.stdout + install.stderr


def test_conflict_is_explained_and_fails(upstream, start_wheelhouse):
    wh = start_wheelhouse(upstream().url)
    result = prefetch(wh, "webapp==2.0", "helper==1.0")
    assert result.returncode == 1
    print(result.stdout)
    assert "error: cannot resolve Python 3.11" in result.stdout, result.stdout
    assert "helper 1.0 requires lib<2, but no version of lib fits it and lib>=2 (webapp 2.0)" in result.stdout, result.stdout
    assert "fetched: webapp" not in result.stdout


def test_resolution_matches_uv_pip_compile(upstream, start_wheelhouse, tmp_path):
    up = upstream()
    wh = start_wheelhouse(up.url)
    (tmp_path / "in.txt").write_text("webapp\nrequests[socks]\nmodern\nidna>=3\n")
    result = prefetch(wh, "-r", str(tmp_path / "in.txt"), "--platform", "manylinux_2_28_x86_64")
    assert result.returncode == 0, result.stdout + result.stderr
    ours = pins(result.stdout)
    assert "webapp==1.0" in ours and "lib==1.5" in ours  # backtracked from webapp 2.0
    env = dict(os.environ, UV_CACHE_DIR=str(tmp_path / "uv-cache"), UV_NO_CONFIG="1")
    compiled = uv("pip", "compile", str(tmp_path / "in.txt"), "--index-url", wh.index_url, "--python-version", "3.11",
                  "--python-platform", "x86_64-manylinux_2_28", "--no-header", "--no-annotate", "--no-strip-extras", env=env)
    assert compiled.returncode == 0, compiled.stderr
    theirs = {re.sub(r"\[.*\]", "", line).strip() for line in compiled.stdout.splitlines() if "==" in line}
    assert ours == theirs


def test_several_targets_at_once(upstream, start_wheelhouse, tmp_path):
    wh = start_wheelhouse(upstream().url)
    result = prefetch(wh, "requests", "--python-version", "3.11", "--python-version", "3.7")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "urllib3==2.2.1" in pins(result.stdout, "Python 3.11")
    assert "urllib3==1.26.18" in pins(result.stdout, "Python 3.7")  # 2.x requires Python >= 3.8
    assert "fetched: urllib3-1.26.18-py3-none-any.whl" in result.stdout


def test_pyproject_uv_lock_and_pylock_install_offline(upstream, start_wheelhouse, venv_factory, tmp_path):
    up = upstream()
    locker = start_wheelhouse(up.url, str(tmp_path / "locker-data"))
    project = tmp_path / "project"
    (project / "demo_app").mkdir(parents=True)
    (project / "demo_app" / "__init__.py").write_text("")
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
        '[project]\nname = "demo-app"\nversion = "0.1"\nrequires-python = ">=3.11"\ndependencies = ["webapp", "requests"]\n'
        '[project.optional-dependencies]\nsocks = ["pysocks"]\n')
    env = dict(os.environ, UV_CACHE_DIR=str(tmp_path / "uv-cache"), UV_NO_CONFIG="1", UV_PYTHON_DOWNLOADS="never")
    lock = uv("lock", "--default-index", locker.index_url, cwd=project, env=env)
    assert lock.returncode == 0, lock.stderr
    export = uv("export", "--format", "pylock.toml", "--all-extras", "-o", "pylock.toml", "--frozen", cwd=project, env=env)
    assert export.returncode == 0, export.stderr
    export = uv("export", "--format", "requirements-txt", "--extra", "socks", "--no-hashes", "--no-emit-project",
                "-o", "locked.txt", "--frozen", cwd=project, env=env)
    assert export.returncode == 0, export.stderr
    locker.stop()  # lock files name its URLs: nothing may come from there any more
    with open(project / "pylock.toml", "rb") as f:
        locked = [f"{p['name']}=={p['version']}" + (f" ; {p['marker']}" if "marker" in p else "")
                  for p in tomllib.load(f)["packages"] if "version" in p and "directory" not in p]
    assert "lib==1.5" in locked

    # Each input into its own fresh cache, then installed with the upstream gone.
    for name, extra in (("pyproject.toml", ["--extra", "socks"]), ("uv.lock", ["--extra", "socks"]), ("pylock.toml", [])):
        wh = start_wheelhouse(up.url, str(tmp_path / f"data-{name}"))
        result = prefetch(wh, "-r", str(project / name), *extra)
        assert result.returncode == 0, name + result.stdout + result.stderr
        assert {"webapp==1.0", "pysocks==1.7.1"} <= pins(result.stdout), name + result.stdout
        wh.stop()
        offline = start_wheelhouse(up.url, str(tmp_path / f"data-{name}"), "--offline")
        venv = venv_factory()
        if name == "pyproject.toml":  # the project itself is built: setuptools came with the prefetch
            install = venv.pip("install", "--no-cache-dir", "--index-url", offline.index_url, f"{project}[socks]")
            assert install.returncode == 0, install.stdout + install.stderr
        elif name == "uv.lock":  # what the lock pins, installed by pip
            install = venv.pip("install", "--no-cache-dir", "--index-url", offline.index_url, "-r", str(project / "locked.txt"))
            assert install.returncode == 0, install.stdout + install.stderr
        else:  # what the PEP 751 lock pins, installed by uv from the index
            install = uv_install(venv, offline.index_url, tmp_path, *locked)
            assert install.returncode == 0, name + install.stdout + install.stderr
        assert venv.installed()["lib"] == "1.5", name
        offline.stop()


def test_check_fails_exactly_where_the_offline_install_would(upstream, start_wheelhouse, venv_factory, tmp_path):
    """The issue's case: the sdist is cached, the setuptools to build it is not."""
    up = upstream()
    wh = start_wheelhouse(up.url)
    status, _, body = http_get(f"{wh.index_url}legacysdist/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    assert status == 200
    sdist = json.loads(body)["files"][0]["url"]
    assert http_get(urllib.parse.urljoin(f"{wh.index_url}legacysdist/", sdist))[0] == 200

    check = prefetch(wh, "--check", "legacysdist==1.0")
    assert check.returncode == 1, check.stdout
    assert "missing: setuptools: page not in the cache (required by build requirements of legacysdist 1.0)" in check.stdout, check.stdout
    up.stop()
    venv = venv_factory()
    install = venv.pip("install", "--no-cache-dir", "--index-url", wh.index_url, "legacysdist==1.0")
    assert install.returncode != 0 and "setuptools" in install.stdout + install.stderr

    # After a prefetch (upstream back), both agree the other way.
    up2 = upstream()
    wh2 = start_wheelhouse(up2.url, wh.data_dir)
    wh.stop()
    assert prefetch(wh2, "legacysdist==1.0").returncode == 0
    up2.stop()
    assert prefetch(wh2, "--check", "legacysdist==1.0").returncode == 0
    assert venv.pip("install", "--no-cache-dir", "--index-url", wh2.index_url, "legacysdist==1.0").returncode == 0


def test_per_file_resolves_each_service_on_its_own(upstream, start_wheelhouse, tmp_path):
    """Two services pin different versions of lib: one environment each, not one for both."""
    wh = start_wheelhouse(upstream().url)
    (tmp_path / "lms.txt").write_text("lib==1.5\nhelper==1.0\n")
    (tmp_path / "cms.txt").write_text("lib==2.5\n")
    together = prefetch(wh, "-r", str(tmp_path / "lms.txt"), "-r", str(tmp_path / "cms.txt"))
    assert together.returncode == 1 and "no version of lib fits" in together.stdout, together.stdout
    each = prefetch(wh, "--per-file", "-r", str(tmp_path / "lms.txt"), "-r", str(tmp_path / "cms.txt"))
    assert each.returncode == 0, each.stdout
    assert pins(each.stdout, f"{tmp_path / 'lms.txt'} for Python 3.11") == {"lib==1.5", "helper==1.0"}
    assert pins(each.stdout, f"{tmp_path / 'cms.txt'} for Python 3.11") == {"lib==2.5"}
    assert "fetched: lib-1.5-py3-none-any.whl" in each.stdout and "fetched: lib-2.5-py3-none-any.whl" in each.stdout
