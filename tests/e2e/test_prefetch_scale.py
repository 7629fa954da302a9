"""A prefetch of ~300 pins (a synthetic set in the fake upstream, standing in for a
real application's pip-compile output): it completes, --check is then clean, and
its time and peak RSS are printed for the record (no timing assertions)."""
import subprocess
import time

import corpus as corpus_module
from conftest import BINARY
from harness import FakeUpstream, run_with_peak_rss

PINS = 300


def test_prefetch_of_300_pins(tmp_path, capsys):
    directory = str(tmp_path / "corpus")
    corpus_module.build_prefetch(directory, synthetic=PINS)
    up = FakeUpstream(directory, str(tmp_path / "upstream.log"))
    try:
        reqs = tmp_path / "pins.txt"
        reqs.write_text("".join(f"synth{i:03d}==1.2\n" for i in range(PINS)))
        binary = BINARY
        args = [binary, "prefetch", "--data-dir", str(tmp_path / "data"), "--upstream", up.url, "-r", str(reqs), "--parallel", "8"]
        started = time.monotonic()
        returncode, out, peak_kb = run_with_peak_rss(args)
        seconds = time.monotonic() - started
        assert returncode == 0, out[-3000:]
        assert f"resolved {PINS}" in out and f"fetched {PINS}" in out and f"metadata {PINS}" in out, out[-1000:]
        check = subprocess.run(args + ["--check"], capture_output=True, text=True, timeout=600)
        assert check.returncode == 0 and "missing 0" in check.stdout, check.stdout[-2000:]
        with capsys.disabled():
            print(f"\nprefetch of {PINS} pins (synthetic, fake upstream, --data-dir): "
                  f"{seconds:.1f} s, peak RSS {peak_kb / 1024:.1f} MB")
    finally:
        up.stop()
