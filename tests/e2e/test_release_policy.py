"""The page policies (issue 17): --min-age, --exclude-newer, --deny-file, --allow-file.
They change what pages list and what +f serves, never what upstream is asked for
beyond that: a hidden file's URL is refused without an upstream request."""
import hashlib
import json
import os
import subprocess

import pytest

import corpus as corpus_module
from conftest import BINARY
from harness import FakeUpstream, file_url, http_get

JSON = "application/vnd.pypi.simple.v1+json"
OLD, NEW = "2024-01-02T03:04:05.000000Z", "2099-01-01T00:00:00.000000Z"


@pytest.fixture
def dated_upstream(tmp_path):
    """A corpus of one project, omicron, with 1.0 uploaded in 2024 and 2.0 in 2099
    (younger than any cooldown, newer than any snapshot date)."""
    directory = tmp_path / "dated"
    directory.mkdir()
    entries = []
    for version, uploaded in (("1.0", OLD), ("2.0", NEW)):
        for filename, data in (corpus_module.build_wheel("omicron", version, [], None, 0),
                               corpus_module.build_sdist("omicron", version)):
            (directory / filename).write_bytes(data)
            entries.append({"filename": filename, "version": version, "sha256": hashlib.sha256(data).hexdigest(),
                            "size": len(data), "requires-python": None, "yanked": None, "upload-time": uploaded})
    (directory / "index.json").write_text(json.dumps({"omicron": entries}))
    up = FakeUpstream(str(directory), str(tmp_path / "dated-upstream.log"))
    yield up, {"omicron": entries}
    up.stop()


def page(wh, project, accept=JSON):
    status, _, body = http_get(f"{wh.url}/root/pypi/+simple/{project}/", {"Accept": accept})
    return status, body


def versions_in(body):
    data = json.loads(body)
    return sorted(data["versions"]), sorted({f["filename"].split("-")[1].removesuffix(".tar.gz") for f in data["files"]})


def assert_pip_gets_omicron_1_0_only(wh, venv_factory):
    """The page lists 1.0 alone (JSON and HTML), and pip installs it."""
    status, body = page(wh, "omicron")
    assert status == 200 and versions_in(body) == (["1.0"], ["1.0"])
    status, html = page(wh, "omicron", "text/html")
    assert status == 200 and b"omicron-1.0" in html and b"omicron-2.0" not in html
    venv = venv_factory()
    result = venv.pip("install", "--index-url", wh.index_url, "omicron")
    assert result.returncode == 0, result.stderr
    assert venv.installed()["omicron"] == "1.0"


def test_exclude_newer_makes_pip_install_the_older_release(dated_upstream, start_wheelhouse, venv_factory):
    up, _ = dated_upstream
    assert_pip_gets_omicron_1_0_only(start_wheelhouse(up.url, None, "--exclude-newer", "2025-01-01T00:00:00Z"), venv_factory)


def test_min_age_older_than_every_file_empties_the_page(dated_upstream, start_wheelhouse, venv_factory):
    up, _ = dated_upstream
    wh = start_wheelhouse(up.url, None, "--min-age", "36500d")
    status, body = page(wh, "omicron")
    assert status == 200 and json.loads(body)["files"] == [] and json.loads(body)["versions"] == []
    result = venv_factory().pip("install", "--index-url", wh.index_url, "omicron")
    assert result.returncode != 0 and "No matching distribution found for omicron" in result.stderr


def test_min_age_hides_only_young_files_and_exempt_projects_see_all(dated_upstream, start_wheelhouse):
    up, index = dated_upstream
    wh = start_wheelhouse(up.url, None, "--min-age", "7d")
    assert versions_in(page(wh, "omicron")[1]) == (["1.0"], ["1.0"])
    young = next(f for f in index["omicron"] if f["version"] == "2.0")
    status, _, body = http_get(file_url(wh.url, young))
    assert status == 404 and b"cooldown" in body and body.count(b"\n") <= 1
    assert up.file_requests() == 0
    exempt = start_wheelhouse(up.url, None, "--min-age", "7d", "--min-age-exempt", "Omicron")
    assert versions_in(page(exempt, "omicron")[1]) == (["1.0", "2.0"], ["1.0", "2.0"])


def test_deny_listed_project_is_404_on_page_and_file(start_upstream, start_wheelhouse, corpus, tmp_path):
    deny = tmp_path / "deny.txt"
    deny.write_text("# malicious\ngamma  # whole project\n")
    up = start_upstream()
    wh = start_wheelhouse(up.url, None, "--deny-file", str(deny))
    status, body = page(wh, "gamma")
    assert status == 404 and b"deny list" in body
    entry = corpus[1]["gamma"][0]
    sha = entry["sha256"]
    status, _, body = http_get(f"{wh.url}/root/pypi/+f/{sha[:3]}/{sha[3:16]}/{entry['filename']}")
    assert status == 404 and b"deny list" in body
    assert up.counts().get("/simple/gamma/", 0) == 0 and up.file_requests() == 0
    assert page(wh, "theta")[0] == 200


def test_denied_version_vanishes_and_its_file_is_never_fetched(start_upstream, start_wheelhouse, corpus, tmp_path):
    deny = tmp_path / "deny.txt"
    deny.write_text("alpha==2.0\n")
    up = start_upstream()
    wh = start_wheelhouse(up.url, None, "--deny-file", str(deny))
    status, body = page(wh, "alpha")
    assert status == 200 and versions_in(body) == (["1.0"], ["1.0"])
    _, html = page(wh, "alpha", "text/html")
    assert b"alpha-2.0" not in html and b"alpha-1.0" in html
    denied = next(f for f in corpus[1]["alpha"] if f["version"] == "2.0" and f["filename"].endswith(".whl"))
    status, _, body = http_get(file_url(wh.url, denied))
    assert status == 404 and b"deny list" in body
    allowed = next(f for f in corpus[1]["alpha"] if f["version"] == "1.0")
    assert http_get(file_url(wh.url, allowed))[0] == 200
    assert up.file_requests() == 1


def test_allow_list_serves_only_what_it_names(start_upstream, start_wheelhouse, corpus, tmp_path):
    allow = tmp_path / "allow.txt"
    allow.write_text("alpha==1.0\ntheta\n")
    up = start_upstream()
    wh = start_wheelhouse(up.url, None, "--allow-file", str(allow))
    assert versions_in(page(wh, "alpha")[1]) == (["1.0"], ["1.0"])
    assert page(wh, "theta")[0] == 200
    status, body = page(wh, "gamma")
    assert status == 404 and b"allow list" in body


@pytest.mark.parametrize("args, message", [
    (["--min-age", "7 days"], "--min-age must be a duration"),
    (["--min-age=-1d"], "--min-age must be a duration"),
    (["--exclude-newer", "last week"], "--exclude-newer must be an RFC 3339 time"),
    (["--min-age-exempt", "bad name!"], "is not a project name"),
    (["--deny-file", "/nonexistent/deny.txt"], "cannot read"),
    (["--allow-file", "LIST"], "is not a project name or name with version specifiers"),
])
def test_bad_policy_values_exit_2_with_one_line(args, message, tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text("alpha=>1.0\n")
    args = [str(listing) if a == "LIST" else a for a in args]
    result = subprocess.run([BINARY, "serve", "--data-dir", str(tmp_path / "data"), *args],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2, result
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr


def test_specifiers_in_the_deny_list_hide_a_range(dated_upstream, start_wheelhouse, venv_factory, tmp_path):
    up, _ = dated_upstream
    deny = tmp_path / "deny.txt"
    deny.write_text("omicron>=2,<3  # the 2.x line is bad\nomicron!=1.0,<0.5\n")
    assert_pip_gets_omicron_1_0_only(start_wheelhouse(up.url, None, "--deny-file", str(deny)), venv_factory)


def test_web_pages_hide_denied_projects(dated_upstream, start_wheelhouse, tmp_path):
    up, index = dated_upstream
    wh = start_wheelhouse(up.url)
    assert http_get(file_url(wh.url, index["omicron"][0]))[0] == 200
    assert b"omicron" in http_get(f"{wh.url}/")[2]
    wh.stop()
    deny = tmp_path / "deny.txt"
    deny.write_text("omicron\n")
    wh = start_wheelhouse(up.url, wh.data_dir, "--deny-file", str(deny))
    assert b"omicron" not in http_get(f"{wh.url}/")[2]
    status, _, body = http_get(f"{wh.url}/root/pypi/omicron")
    assert status == 404 and b"deny list" in body
    assert b"omicron" not in http_get(f"{wh.index_url}")[2]


def test_prefetch_applies_the_policies_it_is_given(dated_upstream, tmp_path):
    up, _ = dated_upstream
    data = str(tmp_path / "data")
    result = subprocess.run([BINARY, "prefetch", "--data-dir", data, "--upstream", up.url,
                             "--exclude-newer", "2025-01-01T00:00:00Z", "omicron"],
                            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stdout + result.stderr
    files = [n for _, _, names in os.walk(os.path.join(data, "files")) for n in names]
    assert "omicron-1.0-py3-none-any.whl" in files and not any(n.startswith("omicron-2.0") for n in files), files
    bad = subprocess.run([BINARY, "prefetch", "--data-dir", data, "--upstream", up.url, "--min-age", "soon", "omicron"],
                         capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert bad.returncode == 2 and "--min-age must be a duration" in bad.stderr
