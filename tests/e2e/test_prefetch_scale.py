"""A prefetch of ~300 pins (a synthetic set in the fake upstream, standing in for a
real application's pip-compile output): it completes, --check is then clean, and
its time and peak RSS are printed for the record (no timing assertions)."""
import os
import subprocess
import threading
import time

import corpus as corpus_module
from harness import FakeUpstream

PINS = 300


def test_prefetch_of_300_pins(tmp_path, capsys):
    directory = str(tmp_path / "corpus")
    corpus_module.build_prefetch(directory, synthetic=PINS)
    up = FakeUpstream(directory, str(tmp_path / "upstream.log"))
    try:
        reqs = tmp_path / "pins.txt"
        reqs.write_text("".join(f"synth{i:03d}==1.2\n" for i in range(PINS)))
        binary = os.environ["WHEELHOUSE_BIN"]
        args = [binary, "prefetch", "--data-dir", str(tmp_path / "data"), "--upstream", up.url, "-r", str(reqs), "--parallel", "8"]
        started = time.monotonic()
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        chunks = []
        reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: proc.stdout.read(65536), b"")))
        reader.start()
        # The peak of the program itself: VmHWM of its own address space (getrusage of a
        # child would count the pytest process it was forked from, before exec).
        peak_kb = 0
        deadline = time.monotonic() + 600
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                with open(f"/proc/{proc.pid}/status") as f:
                    peak_kb = max([peak_kb] + [int(line.split()[1]) for line in f if line.startswith("VmHWM:")])
            except (OSError, ValueError, IndexError):
                pass
            time.sleep(0.02)
        proc.wait(timeout=60)
        reader.join(timeout=60)
        seconds = time.monotonic() - started
        output = b"".join(chunks)
        out = output.decode()
        assert proc.returncode == 0, out[-3000:]
        assert f"resolved {PINS}" in out and f"fetched {PINS}" in out and f"metadata {PINS}" in out, out[-1000:]
        check = subprocess.run(args + ["--check"], capture_output=True, text=True, timeout=600)
        assert check.returncode == 0 and "missing 0" in check.stdout, check.stdout[-2000:]
        with capsys.disabled():
            print(f"\nprefetch of {PINS} pins (synthetic, fake upstream, --data-dir): "
                  f"{seconds:.1f} s, peak RSS {peak_kb / 1024:.1f} MB")
    finally:
        up.stop()
