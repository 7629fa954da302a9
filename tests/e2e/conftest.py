import os
import pytest

import corpus as corpus_module
from harness import FakeUpstream, Venv, Wheelhouse, fd_count, wait_until

BINARY = os.environ.get("WHEELHOUSE_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", ".build", "release", "wheelhouse")


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("corpus"))
    return directory, corpus_module.build(directory, big_wheel_mb=20)


@pytest.fixture
def start_upstream(corpus, tmp_path):
    started = []

    def start(*extra):
        up = FakeUpstream(corpus[0], str(tmp_path / f"upstream-{len(started)}.log"), *extra)
        started.append(up)
        return up
    yield start
    for up in started:
        up.stop()


@pytest.fixture
def start_wheelhouse(tmp_path):
    started = []
    assert os.path.exists(BINARY), f"build the release binary first ({BINARY})"

    def start(upstream_url, data_dir=None, *extra):
        data_dir = data_dir or str(tmp_path / "data")
        wh = Wheelhouse(BINARY, data_dir, upstream_url, str(tmp_path / f"wheelhouse-{len(started)}.log"), *extra)
        started.append(wh)
        return wh
    yield start
    for wh in started:
        wh.stop()


@pytest.fixture
def fd_baseline():
    """Asserts at the end of a test that a server's fd count is back to what it was."""
    checks = []

    def watch(server, upstream=None):
        ports = (upstream.port,) if upstream else ()
        cached = os.path.join(server.data_dir, "files") + "/"
        checks.append((server, ports, cached, fd_count(server.pid, ports, cached)))
    yield watch
    for server, ports, cached, before in checks:
        if server.proc.poll() is None:
            assert wait_until(lambda: fd_count(server.pid, ports, cached) <= before, timeout=15), \
                f"fd leak: {fd_count(server.pid, ports, cached)} open, {before} at start"


@pytest.fixture(scope="session")
def venv_factory(tmp_path_factory):
    """A fresh virtualenv (with the pip that Python bundles) per call."""
    counter = [0]

    def make():
        counter[0] += 1
        path = str(tmp_path_factory.mktemp(f"venv{counter[0]}") / "venv")
        return Venv(path)
    return make
