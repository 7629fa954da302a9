"""Devstack in real containers: the project's compose.yml and image, an app container
that pip-installs through http://edx.devstack.devpi:3141/root/pypi/+simple/, the
devstack habits (`make devpi-logs`, down/up), graceful stop, and health.

The tests share one compose project (module scope) and run in file order: each
asserts one of issue 15's steps on the state the previous ones left.
"""
import hashlib
import os
import re
import subprocess
import time
import urllib.request

import pytest

from docker_env import run, wait_until

PACKAGES = ["alpha", "mu"]  # alpha 2.0 pulls beta, gamma, delta; mu pulls kappa, lambda-pkg, iota
INSTALLED = {"alpha": "2.0", "beta": "1.0", "gamma": "1.0", "delta": "1.0",
             "mu": "1.0", "kappa": "1.0", "lambda-pkg": "1.0", "iota": "1.0"}
WHEELS = {f"{name.replace('-', '_')}-{version}-py3-none-any.whl" for name, version in INSTALLED.items()}


def pip_install(stack, *packages):
    result = stack.exec("lms", "pip", "install", "--no-cache-dir", *packages)
    assert result.returncode == 0, (result.stdout[-2000:] + result.stderr[-2000:] + "\nwheelhouse's log:\n"
                                    + stack("logs", "--no-color", "--tail=30", "wheelhouse").stdout)
    return result


def installed(stack):
    out = stack.exec("lms", "pip", "list", "--format=freeze", check=True).stdout
    return {re.sub(r"[-_.]+", "-", n).lower(): v for n, v in (line.split("==") for line in out.split())}


def request_lines(log):
    return [line for line in log.splitlines() if "event=request" in line]


def temp_files(stack):
    return os.listdir(os.path.join(stack.volume_dir(), "tmp"))


def test_pip_conf_names_the_devpi_host(stack):
    assert stack.pip_conf == ("[global]\nindex-url = http://edx.devstack.devpi:3141/root/pypi/+simple/\n"
                              "trusted-host = edx.devstack.devpi\n")
    assert stack.exec("lms", "cat", "/etc/pip.conf", check=True).stdout == stack.pip_conf


def test_app_container_installs_through_the_devpi_host_name(stack, upstream, corpus):
    result = pip_install(stack, *PACKAGES)
    assert "edx.devstack.devpi" in result.stdout  # pip says which index it used
    assert {k: v for k, v in installed(stack).items() if k in INSTALLED} == INSTALLED
    imported = stack.exec("lms", "python3", "-c", "import alpha, mu; print(alpha.VERSION, mu.VERSION)", check=True)
    assert imported.stdout.split() == ["2.0", "1.0"]
    # Each wheel crossed from upstream exactly once.
    fetched = upstream.file_requests()
    assert {name: fetched.get(name) for name in WHEELS} == {name: 1 for name in WHEELS}
    # The published port serves the same bytes upstream has.
    port = stack("port", "wheelhouse", "3141").stdout.strip().rsplit(":", 1)[1]
    entry = next(f for f in corpus[1]["alpha"] if f["filename"] == "alpha-2.0-py3-none-any.whl")
    h = entry["sha256"]
    url = f"http://127.0.0.1:{port}/root/pypi/+f/{h[:3]}/{h[3:16]}/{entry['filename']}"
    with urllib.request.urlopen(url, timeout=30) as r:
        assert r.status == 200 and r.headers["X-Cache"] == "HIT"
        assert hashlib.sha256(r.read()).hexdigest() == h


def test_make_devpi_logs_shows_the_requests(stack):
    result = stack.make("devpi-logs", "LOG_FOLLOW=", "LOG_TAIL=200")
    assert result.returncode == 0, result.stderr
    lines = request_lines(result.stdout)
    app_ip = stack.inspect("lms", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}")
    from_app = [line for line in lines if f"client={app_ip} " in line]
    for project in INSTALLED:
        page = [l for l in from_app if f"path=/root/pypi/+simple/{project}/ " in l and "status=200" in l]
        assert page, (project, lines[-20:])
    for wheel in WHEELS:
        assert any(wheel in l and "status=200" in l and "cache=MISS" in l for l in from_app), wheel
    print("\nmake devpi-logs (request lines from the app container):\n" + "\n".join(from_app))


def test_healthcheck_reports_healthy(stack):
    assert wait_until(lambda: stack.health() == "healthy", timeout=60)
    last = stack.inspect("wheelhouse", "{{(index .State.Health.Log 0).ExitCode}} {{(index .State.Health.Log 0).Output}}")
    assert last.startswith("0 ") and "healthy" in last
    ps = stack("ps").stdout
    assert re.search(r"edx\.whct\d+\.devpi .* Up .*\(healthy\)", ps), ps
    print("\ndocker-compose ps:\n" + ps)


def test_service_runs_unprivileged_and_read_only(stack):
    settings = "{{.Config.User}} {{.HostConfig.ReadonlyRootfs}} {{.HostConfig.CapDrop}} {{.HostConfig.SecurityOpt}}"
    assert stack.inspect("wheelhouse", settings) == "wheelhouse true [ALL] [no-new-privileges:true]"
    assert stack.exec("wheelhouse", "sh", "-c", "true").returncode != 0, "the image has no shell"


def test_stop_mid_download_exits_zero_and_leaves_no_temp_file(stack, upstream):
    upstream.get("/_control?stall=60")  # upstream sends half of each file, then nothing for 60 s
    client = subprocess.Popen(["docker-compose", "exec", "-T", "lms", "pip", "install", "--no-cache-dir", "eta"],
                              env=stack.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              stdin=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: temp_files(stack), timeout=60), "a download is under way"
        started = time.monotonic()
        stopped = stack("stop", timeout=60)
        seconds = time.monotonic() - started
    finally:
        upstream.get("/_control?stall=0")
        if client.poll() is None:
            client.kill()
        client.wait(timeout=30)
    assert stopped.returncode == 0
    # Exit code 0 rather than 137: wheelhouse left on SIGTERM within the grace period, not killed.
    assert stack.inspect("wheelhouse", "{{.State.Status}} {{.State.ExitCode}} {{.State.OOMKilled}}") == "exited 0 false"
    assert temp_files(stack) == []
    cached = [f for _, _, files in os.walk(os.path.join(stack.volume_dir(), "files")) for f in files]
    assert not any(f.startswith(("eta-", "theta-")) for f in cached), cached
    log = stack("logs", "--no-color", "wheelhouse").stdout
    assert "event=shutdown" in log and "event=stopped" in log
    print(f"\ndocker-compose stop with a download in flight: {seconds:.1f} s")


FETCH = """
import hashlib, sys, urllib.request
for url in sys.argv[1:]:
    with urllib.request.urlopen(url, timeout=30) as r:
        print(r.status, r.headers["X-Cache"], hashlib.sha256(r.read()).hexdigest())
"""


def test_cache_survives_down_and_up_and_serves_without_upstream(stack, upstream, corpus):
    stack("down", timeout=120)  # keeps the named volume, as devstack's `make dev.down`
    assert os.path.isdir(stack.volume_dir())
    upstream.stop()  # upstream is gone from here on
    stack("up", "-d", timeout=300)  # waits for health again (lms depends on it)
    assert stack.health() == "healthy"
    assert "alpha" not in installed(stack), "a fresh app container"
    entries = [f for files in corpus[1].values() for f in files if f["filename"] in WHEELS]
    urls = [f"http://edx.devstack.devpi:3141/root/pypi/+f/{e['sha256'][:3]}/{e['sha256'][3:16]}/{e['filename']}"
            for e in entries]
    fetched = stack.exec("lms", "python3", "-c", FETCH, *urls, check=True).stdout.split("\n")
    assert [line.split() for line in fetched if line] == [["200", "HIT", e["sha256"]] for e in entries]


def test_app_container_pip_installs_again_without_upstream(stack):
    result = stack.exec("lms", "pip", "install", "--no-cache-dir", *PACKAGES)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert {k: v for k, v in installed(stack).items() if k in INSTALLED} == INSTALLED
    log = stack("logs", "--no-color", "wheelhouse").stdout
    for wheel in WHEELS:
        assert any(wheel in l and "status=200" in l and "cache=HIT" in l for l in request_lines(log)), wheel
