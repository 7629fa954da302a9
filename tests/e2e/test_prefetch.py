"""wheelhouse prefetch: fill the cache from requirements files, then install offline."""
import os
import subprocess

from harness import http_get


def run(binary, *args, timeout=300):
    return subprocess.run([binary, "prefetch", *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def write_requirements(tmp_path, corpus):
    """A file with includes, a constraint, hashes on every line (pip's hash mode is
    all-or-nothing), a marker, comments, continuations, and lines to skip."""
    index = corpus[1]

    def wheel(project, version):
        return next(f for f in index[project] if f["filename"].endswith(".whl") and f["version"] == version)
    (tmp_path / "reqs" / "common").mkdir(parents=True)
    (tmp_path / "reqs" / "base.txt").write_text(
        "# devstack-style requirements\n"
        "-r common/shared.txt\n"
        "-c constraints.txt\n"
        f"alpha==2.0 \\\n    --hash=sha256:{wheel('alpha', '2.0')['sha256']}\n"
        f"beta==1.0 --hash=sha256:{wheel('beta', '1.0')['sha256']}  # pulled in by alpha\n"
        f"pywin32==306 ; sys_platform == 'win32' --hash=sha256:{'0' * 64}\n"
    )
    (tmp_path / "reqs" / "common" / "shared.txt").write_text(
        f"gamma==1.0 --hash=sha256:{wheel('gamma', '1.0')['sha256']}\n"
        f"delta==1.0 --hash=sha256:{wheel('delta', '1.0')['sha256']} ; python_version >= '3.8'\n"
    )
    (tmp_path / "reqs" / "constraints.txt").write_text("gamma<1.1\n")
    return str(tmp_path / "reqs" / "base.txt")


def test_prefetch_through_server_then_install_offline(start_upstream, start_wheelhouse, corpus, venv_factory, tmp_path):
    up = start_upstream()
    wh = start_wheelhouse(up.url)
    binary = wh.proc.args[0]
    requirements = write_requirements(tmp_path, corpus)

    result = run(binary, "-r", requirements, "--server", wh.url)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for name in ["alpha-2.0", "beta-1.0", "gamma-1.0", "delta-1.0"]:
        assert f"fetched: {name}-py3-none-any.whl" in out, out
    assert "skipped pywin32 for Python 3.11" in out and "marker excludes the target" in out
    assert "fetched 4" in out and "failed 0" in out
    print(out)  # for the record: a prefetch run's output

    # Everything is there: the check finds nothing missing, and a second run fetches nothing.
    check = run(binary, "-r", requirements, "--server", wh.url, "--check")
    assert check.returncode == 0 and "missing 0" in check.stdout, check.stdout
    again = run(binary, "-r", requirements, "--server", wh.url)
    assert again.returncode == 0 and "fetched 0" in again.stdout and "already cached 4" in again.stdout

    up.stop()
    venv = venv_factory()
    install = venv.pip("install", "--no-cache-dir", "--index-url", wh.index_url, "-r", requirements)
    assert install.returncode == 0, install.stdout + install.stderr
    installed = venv.installed()
    assert installed["alpha"] == "2.0" and installed["delta"] == "1.0" and "pywin32" not in installed


def test_prefetch_into_data_dir_without_server(start_upstream, start_wheelhouse, corpus, venv_factory, tmp_path):
    up = start_upstream()
    data = str(tmp_path / "data")
    binary = os.environ.get("WHEELHOUSE_BIN")
    result = run(binary, "--data-dir", data, "--upstream", up.url, "mu==1.0", "kappa", "iota", "lambda-pkg")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "fetched 4" in result.stdout
    assert os.listdir(os.path.join(data, "tmp")) == []
    up.stop()
    wh = start_wheelhouse(up.url, data, "--offline")
    assert "cached_files=4" in wh.read_log()
    venv = venv_factory()
    assert venv.pip("install", "--no-cache-dir", "--index-url", wh.index_url, "mu").returncode == 0
    assert venv.installed()["iota"] == "1.0"


def test_check_reports_missing_and_fails(start_upstream, start_wheelhouse, corpus, tmp_path):
    wh = start_wheelhouse(start_upstream().url)
    result = run(wh.proc.args[0], "--server", wh.url, "--check", "alpha==2.0", "theta")
    assert result.returncode == 1
    assert "missing: alpha: page not in the cache (required by the input (<command line>:1))" in result.stdout
    assert "missing 2" in result.stdout
    assert http_get(f"{wh.url}/+status")[0] == 200


def test_bad_line_is_a_clear_error(start_upstream, start_wheelhouse, tmp_path):
    wh = start_wheelhouse(start_upstream().url)
    bad = tmp_path / "bad.txt"
    bad.write_text("alpha==2.0\n# fine\nbeta>=\n")
    result = run(wh.proc.args[0], "-r", str(bad), "--server", wh.url)
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {bad}:3: cannot parse the version specifier: 'beta>='"


def test_unresolvable_requirement_fails_the_run(start_upstream, start_wheelhouse):
    wh = start_wheelhouse(start_upstream().url)
    result = run(wh.proc.args[0], "--server", wh.url, "zeta>=2.0", "gamma")
    assert result.returncode == 1
    assert "no version of zeta fits" in result.stdout and "zeta>=2.0 is required by the input" in result.stdout
    assert "versions with a file for Python 3.11" in result.stdout  # zeta 2.0 needs Python >= 3.99
    assert "fetched 0" in result.stdout  # no consistent set: nothing is fetched


def test_unknown_project_fails_the_run_but_the_rest_is_fetched(start_upstream, start_wheelhouse):
    wh = start_wheelhouse(start_upstream().url)
    result = run(wh.proc.args[0], "--server", wh.url, "gamma", "no-such-project")
    assert result.returncode == 1
    assert "failed: no-such-project: no such project on the index" in result.stdout
    assert "fetched: gamma-1.0-py3-none-any.whl" in result.stdout
    assert "failed 1" in result.stdout
