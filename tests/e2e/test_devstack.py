"""The devstack drop-in: web pages in a real headless browser, /+status,
/+metrics, the log, compose.yml, the Dockerfile, and pip-conf / uv-conf."""
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from harness import file_url, http_get, wait_until

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
CHROMIUM = shutil.which("chromium")


def chromium(*args, timeout=90):
    result = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args],
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.fixture
def populated(start_upstream, start_wheelhouse, venv_factory):
    up = start_upstream()
    wh = start_wheelhouse(up.url)
    result = venv_factory().pip("install", "--no-cache-dir", "--index-url", wh.index_url, "alpha", "mu")
    assert result.returncode == 0, result.stderr
    return wh


def test_home_page_in_headless_chromium(populated, corpus, tmp_path):
    wh = populated
    dom = chromium("--dump-dom", wh.url + "/")
    for project in ["alpha", "beta", "gamma", "delta", "mu", "kappa", "iota", "lambda-pkg"]:
        assert f'href="/root/pypi/{project}"' in dom, project
    cards = dict(re.findall(r'<div class="label">([^<]+)</div><div class="value">([^<]+)</div>', dom))
    assert cards["Projects"] == "8" and cards["Files"] == "8"
    assert cards["Downloading"] == "0"
    assert "Upstream" in dom and "online" in dom
    shot = tmp_path / "home.png"
    chromium(f"--screenshot={shot}", "--window-size=1280,900", wh.url + "/")
    with open(shot, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(shot) > 10_000


def test_project_page_lists_cached_files_with_sizes_and_downloads(populated, corpus):
    wh = populated
    wheel = next(f for f in corpus[1]["alpha"] if f["filename"] == "alpha-2.0-py3-none-any.whl")
    http_get(file_url(wh.url, wheel))  # a second download of the same file
    dom = chromium("--dump-dom", wh.url + "/root/pypi/alpha")
    row = re.search(r"<tr><td><a [^>]*>alpha-2.0-py3-none-any.whl</a></td><td class=\"num\">([^<]+)</td>"
                    r"<td class=\"num\">(\d+)</td></tr>", dom)
    assert row, dom[:3000]
    assert row.group(1) == "201 kB" and row.group(2) == "2"
    assert "4 files listed upstream, 1 cached" in dom
    assert http_get(wh.url + "/root/pypi/not-cached-at-all")[0] == 404


def test_pages_are_valid_html(populated):
    import html5lib
    wh = populated
    for path in ["/", "/root/pypi/alpha", "/+status", "/root/pypi/+simple/alpha/"]:
        _, _, body = http_get(wh.url + path, {"Accept": "text/html"})
        parser = html5lib.HTMLParser(strict=True)
        parser.parse(body)  # raises on the first parse error
        assert body.startswith(b"<!DOCTYPE html>"), path


def test_status_json_has_devpi_and_wheelhouse_keys(populated):
    wh = populated
    for accept in (None, "application/json", "*/*"):
        status, headers, body = http_get(wh.url + "/+status", {"Accept": accept} if accept else {})
        assert status == 200 and headers["Content-Type"] == "application/json"
    status = json.loads(body)
    assert status["type"] == "status"
    result = status["result"]
    for key in ["serverdir", "uuid", "host", "port", "outside-url", "role", "versioninfo", "metrics"]:
        assert key in result, key
    assert result["port"] == wh.port and result["serverdir"] == wh.data_dir and len(result["uuid"]) == 32
    assert all(len(m) == 3 and m[1] in ("counter", "gauge") for m in result["metrics"])
    assert result["cached-files"] == 8 and result["cached-projects"] == 8 and result["cached-bytes"] > 0
    assert result["misses"] > 0 and result["in-flight-transfers"] == 0
    assert result["upstream"]["state"] == "online" and result["upstream"]["last-error"] is None
    # A browser gets the same facts as a page.
    status, headers, body = http_get(wh.url + "/+status", {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert headers["Content-Type"].startswith("text/html") and b"Hits / misses" in body
    # The uuid survives a restart (it lives in the data directory).
    assert open(os.path.join(wh.data_dir, "uuid")).read() == result["uuid"]


def test_status_reports_failing_upstream(start_wheelhouse):
    wh = start_wheelhouse("http://127.0.0.1:9/simple/")
    http_get(wh.url + "/root/pypi/+simple/alpha/")
    upstream = json.loads(http_get(wh.url + "/+status")[2])["result"]["upstream"]
    assert upstream["state"] == "failing" and upstream["failing-since"] and "alpha" in upstream["last-error"]
    assert b"failing since" in http_get(wh.url + "/")[2]


def test_metrics_parse_as_prometheus_text(populated):
    from prometheus_client.parser import text_string_to_metric_families
    wh = populated
    status, headers, body = http_get(wh.url + "/+metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    def value(name, **labels):
        family = families[name]
        return next(s.value for s in family.samples if all(s.labels.get(k) == v for k, v in labels.items()))
    assert value("wheelhouse_http_responses", status="200") > 0
    # 8 wheels and their 8 .metadata files (upstream advertises them, as PyPI does).
    assert value("wheelhouse_cache_misses", kind="file") == 16
    assert value("wheelhouse_upstream_fetches", kind="file") == 16
    assert value("wheelhouse_upstream_failures", kind="page") == 0
    assert value("wheelhouse_cached_files") == 8
    assert value("wheelhouse_upstream_inflight_transfers") == 0
    assert value("wheelhouse_open_connections") >= 1
    assert value("wheelhouse_http_sent_bytes") > 1_000_000


def test_log_has_one_line_per_request_with_fields(populated):
    wh = populated
    http_get(wh.url + "/nope")
    # The line is written once the response is sent, so it may trail the client by a moment.
    assert wait_until(lambda: "path=/nope" in wh.read_log(), timeout=10)
    lines = [l for l in wh.read_log().splitlines() if "event=request" in l]
    last = next(l for l in lines if "path=/nope" in l)
    for field in ["level=info", "id=", "client=127.0.0.1", "method=GET", "path=/nope",
                  "status=404", "bytes=", "ms=", "cache=-"]:
        assert field in last, (field, last)
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ", last)
    ids = [int(re.search(r" id=(\d+)", l).group(1)) for l in lines]
    assert len(set(ids)) == len(ids), "request ids are unique"


def test_log_level_filters(start_upstream, start_wheelhouse):
    wh = start_wheelhouse(start_upstream().url, None, "--log-level", "warning")
    http_get(wh.url + "/+status")
    http_get(wh.url + "/root/pypi/+simple/alpha/")
    log = wh.read_log()
    assert "event=listening" in log and "event=request" not in log


def test_compose_file_validates():
    result = subprocess.run(["docker-compose", "-f", os.path.join(ROOT, "compose.yml"), "config"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    import yaml
    config = yaml.safe_load(result.stdout)
    service = config["services"]["wheelhouse"]
    assert service["ports"][0]["published"] in (3141, "3141") and service["ports"][0]["target"] == 3141
    # docker-compose 1.x prints short syntax ("wheelhouse_data:/data:rw"), v2 the long form.
    volumes = [v if isinstance(v, str) else f"{v['source']}:{v['target']}" for v in service["volumes"]]
    assert any(v.startswith("wheelhouse_data:/data") for v in volumes), volumes
    assert "wheelhouse_data" in config["volumes"]
    assert service["healthcheck"]["test"][:2] == ["CMD", "wheelhouse"]
    assert service["restart"] == "unless-stopped"
    assert "edx.devstack.devpi" in service["networks"]["default"]["aliases"]


def test_dockerfile_parses_multi_stage_non_root():
    from dockerfile_parse import DockerfileParser
    parser = DockerfileParser(path=os.path.join(ROOT, "Dockerfile"))
    args = {i["value"].split("=", 1)[0]: i["value"].split("=", 1)[1] for i in parser.structure
            if i["instruction"] == "ARG" and "=" in i["value"]}
    # With Docker Hub: Swift's image builds, slim Debian runs (make image passes local images instead).
    assert args["BUILDER_IMAGE"].startswith("swift:") and args["BASE_IMAGE"] == "debian:bookworm-slim"
    froms = [i["value"] for i in parser.structure if i["instruction"] == "FROM"]
    assert froms == ["${BUILDER_IMAGE} AS build", "${BASE_IMAGE} AS runtime-files", "scratch"]
    starts = [i for i, x in enumerate(parser.structure) if x["instruction"] == "FROM"]
    files_stage = parser.structure[starts[1]:starts[2]]
    assert any("libcurl4" in i["value"] and "zlib1g" in i["value"] for i in files_stage if i["instruction"] == "RUN")
    instructions = {i["instruction"]: i["value"] for i in parser.structure[starts[2]:]}
    assert instructions["USER"] == "wheelhouse"
    assert instructions["EXPOSE"] == "3141"
    assert "healthcheck" in instructions["HEALTHCHECK"]
    assert instructions["COPY"] == "--from=runtime-files /rootfs /"


def test_healthcheck_command(populated, start_wheelhouse):
    wh = populated
    binary = wh.proc.args[0]
    ok = subprocess.run([binary, "healthcheck", "--url", wh.url], capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0 and "healthy" in ok.stdout
    down = subprocess.run([binary, "healthcheck", "--url", "http://127.0.0.1:9", "--timeout", "2"],
                          capture_output=True, text=True, timeout=30)
    assert down.returncode == 1 and "unhealthy" in down.stdout


def test_pip_conf_and_uv_conf_configure_real_clients(start_upstream, start_wheelhouse, venv_factory, tmp_path):
    wh = start_wheelhouse(start_upstream().url)
    binary = wh.proc.args[0]
    conf = subprocess.run([binary, "pip-conf", "--host", "127.0.0.1", "--port", str(wh.port)],
                          capture_output=True, text=True, check=True).stdout
    assert conf == f"[global]\nindex-url = http://127.0.0.1:{wh.port}/root/pypi/+simple/\n"
    remote = subprocess.run([binary, "pip-conf", "--host", "devpi.devstack.edx"], capture_output=True, text=True, check=True).stdout
    assert "trusted-host = devpi.devstack.edx" in remote
    pip_conf = tmp_path / "pip.conf"
    pip_conf.write_text(conf)
    venv = venv_factory()
    env = dict(os.environ, PIP_CONFIG_FILE=str(pip_conf), PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PIP_INDEX_URL", None)
    result = subprocess.run([venv.python, "-m", "pip", "install", "--no-cache-dir", "gamma"], capture_output=True,
                            text=True, env=env, timeout=180)
    assert result.returncode == 0, result.stderr
    assert venv.installed()["gamma"] == "1.0"

    uv_toml = tmp_path / "uv.toml"
    uv_toml.write_text(subprocess.run([binary, "uv-conf", "--host", "127.0.0.1", "--port", str(wh.port)],
                                      capture_output=True, text=True, check=True).stdout)
    uv = os.path.join(os.path.dirname(sys.executable), "uv")
    venv2 = venv_factory()
    env = dict(os.environ, UV_PYTHON_DOWNLOADS="never", UV_NO_CACHE="1")
    result = subprocess.run([uv, "pip", "install", "--config-file", str(uv_toml), "--python", venv2.python, "beta"],
                            capture_output=True, text=True, env=env, timeout=180)
    assert result.returncode == 0, result.stderr
    assert venv2.installed()["delta"] == "1.0"
    bad = subprocess.run([binary, "pip-conf", "--port", "70000"], capture_output=True, text=True)
    assert bad.returncode != 0 and "port" in bad.stderr
