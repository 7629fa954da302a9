"""docs/scale-out.md's nginx configuration is valid (nginx -t), and the options it
documents are the ones `wheelhouse serve --help` lists."""
import os
import shutil
import subprocess

import pytest

from conftest import BINARY

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


@pytest.mark.skipif(not shutil.which("nginx"), reason="nginx not installed (bench/setup.sh installs it)")
def test_nginx_config_of_the_two_node_setup_is_valid(tmp_path):
    conf = tmp_path / "nginx.conf"
    shutil.copy(os.path.join(ROOT, "docs", "scale-out", "nginx.conf"), conf)
    result = subprocess.run(["nginx", "-t", "-e", "stderr", "-p", str(tmp_path), "-c", str(conf)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr


def test_documented_options_are_served_options():
    help_text = subprocess.run([BINARY, "serve", "--help"], capture_output=True, text=True, timeout=30).stdout
    with open(os.path.join(ROOT, "docs", "scale-out.md")) as f:
        doc = f.read()
    for option, variable in [("--s3-endpoint", "WHEELHOUSE_S3_ENDPOINT"), ("--s3-bucket", "WHEELHOUSE_S3_BUCKET"),
                             ("--s3-prefix", "WHEELHOUSE_S3_PREFIX"), ("--s3-region", "WHEELHOUSE_S3_REGION")]:
        assert option in help_text and variable in help_text
        assert option in doc and variable in doc
