"""`wheelhouse serve`'s options: flags, environment variables, defaults, bad values."""
import os
import subprocess

import pytest

from conftest import BINARY


def run(args, env=None, timeout=10):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("WHEELHOUSE_")}
    full_env.update(env or {})
    return subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=timeout, env=full_env)


def test_help_shows_each_variable_and_the_default_in_force():
    plain = run(["serve", "--help"]).stdout
    assert "[env: WHEELHOUSE_DATA_DIR]" in plain and "[env: WHEELHOUSE_SEND_TIMEOUT]" in plain
    assert "(default: 3141)" in plain and "(default: 1024)" in plain
    from_env = run(["serve", "--help"], env={"WHEELHOUSE_PORT": "8080", "WHEELHOUSE_MAX_CONNECTIONS": "77"}).stdout
    assert "(default: 8080)" in from_env and "(default: 77)" in from_env


@pytest.mark.parametrize("args, env, message", [
    (["serve", "--port", "abc"], {}, "'abc' is invalid for '--port"),
    (["serve", "--port", "70000"], {}, "--port must be 0-65535"),
    (["serve", "--page-timeout=0"], {}, "--page-timeout must be > 0"),
    (["serve", "--upstream", "ftp://x/"], {}, "--upstream must be an http"),
    (["serve", "--log-level", "loud"], {}, "--log-level must be"),
    (["serve", "--memory-budget", "512k"], {}, "--memory-budget must be a size from 1M to 1T"),
    (["serve"], {"WHEELHOUSE_MEMORY_BUDGET": "lots"}, "--memory-budget must be a size from 1M to 1T"),
    (["serve"], {"WHEELHOUSE_PORT": "x"}, "invalid value 'x' in environment variable WHEELHOUSE_PORT"),
    (["serve"], {"WHEELHOUSE_OFFLINE": "maybe"}, "WHEELHOUSE_OFFLINE"),
    (["serve", "--no-such-flag"], {}, "no-such-flag"),
    (["serve", "--max-cache-size", "1G", "--pins-file", "/nonexistent/pins"], {}, "--pins-file /nonexistent/pins: cannot read it"),
    (["gc", "--data-dir", "/tmp", "--pins-file", "/nonexistent/pins", "--dry-run"], {}, "--pins-file /nonexistent/pins: cannot read it"),
    (["serve", "--s3-endpoint", "http://user:secret@127.0.0.1:9", "--s3-bucket", "bkt"],
     {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}, "--s3-endpoint must not carry credentials"),
])
def test_bad_values_exit_2_with_one_line(args, env, message):
    result = run(args, env)
    assert result.returncode == 2, result
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr


def test_a_bad_variable_is_an_error_even_when_the_flag_is_given(tmp_path):
    """So a typo in a compose file never goes unnoticed."""
    result = run(["serve", "--port", "0", "--data-dir", str(tmp_path)], env={"WHEELHOUSE_PORT": "x"})
    assert result.returncode == 2
