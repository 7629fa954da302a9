"""Prefetch's own memory with pages of real size: ~300 pins, every page listing
hundreds of files and one listing 60,000 (a pydantic-core), as PyPI's do. Prefetch
runs against a server already running (--server), so what is measured is the
prefetch process alone, not the server's page memory. Pages are read as they
stream in and only the files resolution can choose are kept: holding each body
whole (and every compatible file) took the big page's size and more."""
import json

import corpus as corpus_module
from conftest import BINARY
from harness import FakeUpstream, Wheelhouse, http_get, run_with_peak_rss

PINS = 300
PAD_FILES = 300
BIG_PAGE_FILES = 60_000  # ~35 MB of JSON
PEAK_BOUND_MB = 48


def test_prefetch_memory_with_real_size_pages(tmp_path):
    directory = str(tmp_path / "corpus")
    corpus_module.build_prefetch(directory, synthetic=PINS)
    table = tmp_path / "pad.json"
    table.write_text(json.dumps({"synth000": BIG_PAGE_FILES}))
    up = FakeUpstream(directory, str(tmp_path / "upstream.log"), "--pad-files", str(PAD_FILES), "--pad-table", str(table))
    # Generating the big listing takes the fake upstream seconds; once made it is kept.
    http_get(up.url + "synth000/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}, timeout=120)
    binary = BINARY
    # The server parses a 35 MB page meanwhile: give its page requests time on a busy machine.
    server = Wheelhouse(binary, str(tmp_path / "data"), up.url, str(tmp_path / "wheelhouse.log"), "--page-timeout", "300")
    try:
        reqs = tmp_path / "pins.txt"
        reqs.write_text("".join(f"synth{i:03d}==1.2\n" for i in range(PINS)))
        returncode, out, peak_kib = run_with_peak_rss([binary, "prefetch", "--server", server.url, "-r", str(reqs), "--parallel", "8"])
        problems = "\n".join(line for line in out.splitlines() if line.startswith(("failed:", "error:")))
        assert returncode == 0 and f"resolved {PINS}" in out and "failed 0" in out, problems[:3000] + out[-300:]
        assert peak_kib < PEAK_BOUND_MB * 1024, f"prefetch peaked at {peak_kib / 1024:.1f} MB (bound {PEAK_BOUND_MB} MB)"
    finally:
        server.stop()
        up.stop()
