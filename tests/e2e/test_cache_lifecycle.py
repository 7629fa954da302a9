"""The cache's lifecycle (issue 17): --max-cache-size evicts least recently used files,
pins (prefetch's, or a pins file) are never evicted, `wheelhouse gc` applies the same
policy offline, `wheelhouse purge` drops projects."""
import hashlib
import json
import os
import subprocess
import time

import pytest

import corpus as corpus_module
from conftest import BINARY
from harness import FakeUpstream, file_url, http_get, wait_until

COUNT, PADDING = 8, 300_000
CAP = 1_000_000  # three of the wheels fit, not four


@pytest.fixture
def sized_upstream(tmp_path):
    """lru0 .. lru7: one ~300 KB wheel each, no dependencies (a working set of 2.4 MB)."""
    directory = tmp_path / "sized"
    directory.mkdir()
    index = {}
    for i in range(COUNT):
        filename, data = corpus_module.build_wheel(f"lru{i}", "1.0", [], None, PADDING)
        (directory / filename).write_bytes(data)
        index[f"lru{i}"] = [{"filename": filename, "version": "1.0", "sha256": hashlib.sha256(data).hexdigest(),
                             "size": len(data), "requires-python": None, "yanked": None}]
    (directory / "index.json").write_text(json.dumps(index))
    up = FakeUpstream(str(directory), str(tmp_path / "sized-upstream.log"))
    yield up, index
    up.stop()


def wheel(index, i):
    return index[f"lru{i}"][0]


def stored(data_dir):
    """{filename: size} of every file under data/files."""
    found = {}
    for root, _, names in os.walk(os.path.join(data_dir, "files")):
        for name in names:
            found[name] = os.path.getsize(os.path.join(root, name))
    return found


def stored_wheels(data_dir):
    return sorted(n.split("-")[0] for n in stored(data_dir) if n.endswith(".whl"))


def status(wh):
    return json.loads(http_get(f"{wh.url}/+status", {"Accept": "application/json"})[2])["result"]


def cli(*args):
    return subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def pip_download(venv_factory, wh, tmp_path, projects):
    dest = tmp_path / f"dl-{time.monotonic_ns()}"
    venv = venv_factory() if not hasattr(pip_download, "venv") else pip_download.venv
    pip_download.venv = venv
    result = venv.pip("download", "--no-cache-dir", "--no-deps", "-d", str(dest), "--index-url", wh.index_url, *projects)
    assert result.returncode == 0, result.stderr
    return {name: hashlib.sha256((dest / name).read_bytes()).hexdigest() for name in os.listdir(dest)}


def test_cap_smaller_than_the_working_set_evicts_least_recently_used(sized_upstream, start_wheelhouse, venv_factory, tmp_path):
    up, index = sized_upstream
    wh = start_wheelhouse(up.url, None, "--max-cache-size", "1MB")
    # Round 1: pip gets every file right although they cannot all stay.
    got = pip_download(venv_factory, wh, tmp_path, [f"lru{i}" for i in range(COUNT)])
    assert got == {wheel(index, i)["filename"]: wheel(index, i)["sha256"] for i in range(COUNT)}
    assert wait_until(lambda: sum(stored(wh.data_dir).values()) <= CAP), stored(wh.data_dir)

    # Use them in a known order: the last three used are the ones kept.
    for i in range(COUNT):
        assert http_get(file_url(wh.url, wheel(index, i)))[0] == 200
    assert wait_until(lambda: stored_wheels(wh.data_dir) == ["lru5", "lru6", "lru7"]), stored(wh.data_dir)
    assert sum(stored(wh.data_dir).values()) <= CAP
    s = status(wh)
    assert s["max-cache-bytes"] == CAP and s["cached-bytes"] <= CAP and s["evicted-files"] >= 10
    metrics = http_get(f"{wh.url}/+metrics")[2].decode()
    assert f"wheelhouse_cache_max_bytes {CAP}" in metrics and "wheelhouse_cache_evictions_total" in metrics

    # Round 2: the kept files are hits (no upstream request); evicted ones come back from upstream.
    before = up.file_requests()
    pip_download(venv_factory, wh, tmp_path, ["lru7", "lru6", "lru5"])
    assert up.file_requests() == before
    got = pip_download(venv_factory, wh, tmp_path, ["lru0", "lru1"])
    assert got == {wheel(index, i)["filename"]: wheel(index, i)["sha256"] for i in (0, 1)}
    assert up.file_requests() == before + 2
    assert wait_until(lambda: sum(stored(wh.data_dir).values()) <= CAP)
    assert "event=cache_evicted" in wh.read_log()


def test_recency_survives_a_restart(sized_upstream, start_wheelhouse):
    """The order of last use is kept in the files' modification times: after a restart the
    oldest file is still the first to go."""
    up, index = sized_upstream
    wh = start_wheelhouse(up.url, None, "--max-cache-size", "1MB")
    for i in (2, 0, 1):
        assert http_get(file_url(wh.url, wheel(index, i)))[0] == 200
    wh.stop()
    wh = start_wheelhouse(up.url, wh.data_dir, "--max-cache-size", "1MB")
    assert http_get(file_url(wh.url, wheel(index, 3)))[0] == 200
    assert wait_until(lambda: stored_wheels(wh.data_dir) == ["lru0", "lru1", "lru3"]), stored(wh.data_dir)


def test_pinned_files_survive_a_cap_that_would_evict_them(sized_upstream, start_wheelhouse, venv_factory, tmp_path):
    up, index = sized_upstream
    data = str(tmp_path / "data")
    result = cli("prefetch", "--data-dir", data, "--upstream", up.url, "lru0")
    assert result.returncode == 0, result.stdout + result.stderr
    assert wheel(index, 0)["filename"] in open(os.path.join(data, "pins")).read()
    pins_file = tmp_path / "more-pins.txt"
    pins_file.write_text(f"# pinned by hand\n{wheel(index, 1)['filename']}\n")

    wh = start_wheelhouse(up.url, data, "--max-cache-size", "1MB", "--pins-file", str(pins_file))
    pip_download(venv_factory, wh, tmp_path, [f"lru{i}" for i in range(1, COUNT)])
    # lru0 is the oldest, lru1 next: both pinned, both kept; the cap is met with the rest.
    assert wait_until(lambda: sum(stored(wh.data_dir).values()) <= CAP), stored(wh.data_dir)
    kept = stored_wheels(wh.data_dir)
    assert "lru0" in kept and "lru1" in kept and len(kept) == 3, kept
    assert status(wh)["pinned-files"] == 2
    # Offline readiness holds: --check finds lru0 complete in the cache.
    check = cli("prefetch", "--server", wh.url, "--check", "lru0")
    assert check.returncode == 0, check.stdout + check.stderr


def test_gc_dry_run_then_gc_then_purge(sized_upstream, start_wheelhouse, venv_factory, tmp_path):
    up, index = sized_upstream
    wh = start_wheelhouse(up.url)
    pip_download(venv_factory, wh, tmp_path, [f"lru{i}" for i in range(COUNT)])
    data = wh.data_dir
    running = cli("gc", "--data-dir", data, "--max-size", "1MB")
    assert running.returncode == 1 and "is using" in running.stderr, running
    wh.stop()

    # Last use as the server records it (modification times): lru0 oldest, lru7 newest.
    for root, _, names in os.walk(os.path.join(data, "files")):
        for name in names:
            i = int(name.split("-")[0].removeprefix("lru"))
            os.utime(os.path.join(root, name), (1_700_000_000 + i, 1_700_000_000 + i))
    leftover = os.path.join(data, "tmp", "1-2.part")
    open(leftover, "wb").write(b"x" * 100)
    before = stored(data)

    dry = cli("gc", "--data-dir", data, "--max-size", "1MB", "--dry-run")
    assert dry.returncode == 0, dry
    assert "would delete" in dry.stdout and wheel(index, 0)["filename"] in dry.stdout and "tmp/1-2.part" in dry.stdout
    assert stored(data) == before and os.path.exists(leftover)

    done = cli("gc", "--data-dir", data, "--max-size", "1MB")
    assert done.returncode == 0, done
    assert sum(stored(data).values()) <= CAP and not os.path.exists(leftover)
    assert stored_wheels(data) == ["lru5", "lru6", "lru7"]
    assert all(n.startswith(("lru5", "lru6", "lru7")) for n in stored(data)), "metadata went with its wheel"

    purged = cli("purge", "--data-dir", data, "lru7")
    assert purged.returncode == 0 and "lru7: deleted its page and" in purged.stdout, purged
    assert stored_wheels(data) == ["lru5", "lru6"] and not os.path.exists(os.path.join(data, "pages", "lru7.json"))
    assert "nothing stored" in cli("purge", "--data-dir", data, "lru7").stdout

    # Back on line, a purged project comes back from upstream.
    pages_before = up.counts().get("/simple/lru7/", 0)
    wh = start_wheelhouse(up.url, data)
    assert http_get(f"{wh.index_url}lru7/")[0] == 200
    assert up.counts().get("/simple/lru7/", 0) == pages_before + 1


@pytest.mark.parametrize("args, message", [
    (["gc", "--data-dir", "DATA", "--max-size", "lots"], "--max-size must be a size"),
    (["gc", "--data-dir", "/nonexistent/data"], "is not a wheelhouse data directory"),
    (["purge", "--data-dir", "DATA"], "name at least one project"),
    (["purge", "--data-dir", "DATA", "bad name!"], "is not a project name"),
    (["serve", "--data-dir", "DATA", "--max-cache-size", "big"], "--max-cache-size must be a size"),
    (["serve", "--data-dir", "DATA", "--max-cache-size", "0"], "--max-cache-size must be a size"),
])
def test_bad_lifecycle_values_exit_2_with_one_line(args, message, tmp_path):
    data = tmp_path / "data"
    (data / "files").mkdir(parents=True)
    result = cli(*[str(data) if a == "DATA" else a for a in args])
    assert result.returncode == 2, result
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr
