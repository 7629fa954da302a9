"""Fixtures for the container test: one devstack-like compose project per module,
with the fake upstream on the host's bridge address (reachable by the containers
only, never from outside this machine)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))

import corpus as corpus_module  # noqa: E402
from docker_env import Compose, Engine, base_image, bridge_gateway, build_app_image, run  # noqa: E402
from harness import FakeUpstream  # noqa: E402


@pytest.fixture(scope="session")
def engine(tmp_path_factory):
    engine = Engine(str(tmp_path_factory.mktemp("dockerd") / "dockerd.log"))
    yield engine
    engine.stop()


@pytest.fixture(scope="session")
def images(engine):
    """(wheelhouse image, app image), both built on this machine with no registry."""
    base = base_image()
    run(["make", "-s", "image"], timeout=900, env=dict(os.environ, BASE_IMAGE=base, IMAGE="wheelhouse:latest"))
    return "wheelhouse:latest", build_app_image(base)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("corpus"))
    return directory, corpus_module.build(directory, big_wheel_mb=2)


class Upstream:
    """The fake PyPI, listening on the bridge gateway so that containers reach it."""

    def __init__(self, corpus_dir, log_path, address):
        self.server = FakeUpstream(corpus_dir, log_path, "--host", address)
        self.base = f"http://{address}:{self.server.port}"
        self.url = self.base + "/simple/"

    def get(self, path):
        import urllib.request
        with urllib.request.urlopen(self.base + path, timeout=10) as r:
            return r.read()

    def file_requests(self):
        import json
        counts = json.loads(self.get("/_stats"))["counts"]
        return {p.rsplit("/", 1)[1]: n for p, n in counts.items() if p.startswith("/files/")}

    def stop(self):
        self.server.stop()


@pytest.fixture(scope="module")
def upstream(engine, corpus, tmp_path_factory):
    up = Upstream(corpus[0], str(tmp_path_factory.mktemp("upstream") / "upstream.log"), bridge_gateway())
    yield up
    up.stop()


@pytest.fixture(scope="module")
def stack(images, upstream, tmp_path_factory):
    """The compose project, up and healthy; taken down with its volume afterwards."""
    folder = tmp_path_factory.mktemp("stack")
    pip_conf = folder / "pip.conf"
    pip_conf.write_text("")  # replaced below by what `wheelhouse pip-conf` prints
    compose = Compose(f"whct{os.getpid()}", {
        "APP_IMAGE": images[1], "PIP_CONF": str(pip_conf), "WHEELHOUSE_UPSTREAM": upstream.url,
        "WHEELHOUSE_PUBLISH": "127.0.0.1:0",  # any free port, loopback only
    })
    try:
        # docs/devstack.md's command for the app containers' pip.conf.
        conf = compose("run", "--rm", "-T", "wheelhouse", "pip-conf", "--host", "edx.devstack.devpi").stdout
        pip_conf.write_text(conf)
        up = compose("up", "-d", timeout=300)  # waits for wheelhouse's health: lms depends on it
        compose.first_up = up
        compose.pip_conf = conf
        yield compose
    finally:
        compose("down", "--volumes", "--remove-orphans", "--timeout", "20", check=False)

