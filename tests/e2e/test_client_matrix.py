"""Every client devstack images ship (pip 20.3 to the latest, and uv) installs a small
dependency closure cold, then again with the upstream gone and the pages expired."""
import json
import os

import pytest

from clients import CLIENTS, client_version, install, installed

FIGURES = os.path.join(os.path.dirname(__file__), "..", "..", ".build", "e2e-client-matrix.json")


def record(client, key, value):
    figures = json.load(open(FIGURES)) if os.path.exists(FIGURES) else {}
    figures.setdefault(client, {})[key] = value
    with open(FIGURES, "w") as f:
        json.dump(figures, f, indent=1)


@pytest.mark.parametrize("client", CLIENTS)
def test_cold_then_with_upstream_gone(client, start_upstream, start_wheelhouse, tmp_path):
    up = start_upstream()
    data = str(tmp_path / "data")
    # --index-ttl 0: every page is expired, so the warm install meets the dead upstream.
    wh = start_wheelhouse(up.url, data, "--index-ttl", "0")
    cold = install(client, wh.index_url, str(tmp_path / "cold"), "alpha", "mu")
    assert cold.returncode == 0, cold.stdout + cold.stderr
    expected = {"alpha": "2.0", "beta": "1.0", "gamma": "1.0", "delta": "1.0", "mu": "1.0", "kappa": "1.0",
                "iota": "1.0", "lambda-pkg": "1.0"}
    assert installed(str(tmp_path / "cold")) == expected
    up.stop()
    warm = install(client, wh.index_url, str(tmp_path / "warm"), "alpha", "mu")
    assert warm.returncode == 0, warm.stdout + warm.stderr
    assert installed(str(tmp_path / "warm")) == expected
    assert "Traceback" not in cold.stderr + warm.stderr
    record(client, "version", client_version(client))
    record(client, "cold_seconds", round(cold.seconds, 2))
    record(client, "upstream_gone_seconds", round(warm.seconds, 2))
