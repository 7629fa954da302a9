"""Pages of real PyPI size within a memory budget: many big pages are served, evicted
to disk and served again, a file of an evicted page still downloads, and the server's
peak RSS stays bounded whatever the number of projects."""
import gzip
import hashlib
import json
import os

import corpus as corpus_module
from harness import FakeUpstream, file_url, http_get

PROJECTS, FILES = 120, 2000
JSON = "application/vnd.pypi.simple.v1+json"
# Peak RSS bound for 120 projects of 2,000 files (each page ~1 MB of JSON upstream, 1.5 MB
# parsed): with every page kept in memory this took ~0.3 GB; with the default 16 MB budget
# it stays near 47 MB, the same for 50 or 500 projects.
PEAK_RSS_LIMIT_KB = 64 * 1024


def peak_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))


def page(wh, project):
    status, headers, body = http_get(f"{wh.url}/root/pypi/+simple/{project}/", {"Accept": JSON, "Accept-Encoding": "gzip"},
                                     timeout=120)
    assert status == 200, (project, status, body[:200])
    assert headers.get("Content-Encoding") == "gzip"
    return headers, json.loads(gzip.decompress(body))


def test_many_big_pages_stay_within_the_memory_budget(tmp_path, start_wheelhouse):
    # One real project (its files download) and listing-only ones, every page 2,000 files.
    index = corpus_module.build(str(tmp_path / "corpus"))
    real = next(f for f in index["alpha"] if f["filename"].endswith(".tar.gz"))
    projects = ["alpha"] + [f"synth-{i}" for i in range(PROJECTS - 1)]
    table = tmp_path / "pad.json"
    table.write_text(json.dumps({name: FILES - len(index.get(name, [])) for name in projects}))
    up = FakeUpstream(str(tmp_path / "corpus"), str(tmp_path / "upstream.log"), "--pad-table", str(table))
    try:
        wh = start_wheelhouse(up.url)
        for name in projects:
            headers, body = page(wh, name)
            assert headers["X-Cache"] == "MISS" and len(body["files"]) == FILES
        # Every page again: most were evicted from memory and come back from disk.
        for name in projects:
            headers, body = page(wh, name)
            assert headers["X-Cache"] == "HIT" and len(body["files"]) == FILES
        assert up.counts().get("/simple/alpha/") == 1, "served from the cache, not fetched again"

        # A file listed only by a page long evicted from memory (alpha: 119 pages came
        # after it) still downloads, verified.
        with open(tmp_path / "corpus" / real["filename"], "rb") as f:
            data = f.read()
        status, headers, got = http_get(file_url(wh.url, real))
        assert status == 200 and got == data and hashlib.sha256(got).hexdigest() == real["sha256"], (status, got[:200])

        status, _, body = http_get(f"{wh.url}/+status", {"Accept": "application/json"})
        memory = json.loads(body)["result"]["memory"]
        assert memory["budget-bytes"] == 16 << 20
        assert memory["parsed-pages-bytes"] + memory["rendered-pages-bytes"] <= memory["budget-bytes"]

        peak = peak_rss_kb(wh.pid)
        print(f"peak RSS {peak} kB for {PROJECTS} projects of {FILES} files")
        assert peak < PEAK_RSS_LIMIT_KB, f"peak RSS {peak} kB for {PROJECTS} projects of {FILES} files"
    finally:
        up.stop()
