#!/usr/bin/env bash
# Builds the libFuzzer target (Fuzz/HTTPFuzz: request parser + a real Connection on the
# real event loop) with AddressSanitizer and runs it for $1 seconds (default 60).
# A crash leaves its input in .build-fuzz/crashes/ and fails this script.
# gold crashes linking a sanitized Swift binary on Debian 12, hence lld (Fuzz/toolset.json).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
WHEELHOUSE_FUZZ=1 swift build -c release --product wheelhouse-fuzz --scratch-path .build-fuzz \
    --toolset Fuzz/toolset.json -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
corpus=.build-fuzz/corpus
mkdir -p "$corpus" .build-fuzz/crashes
cp -n Fuzz/seeds/* "$corpus"/ 2>/dev/null || true
log=.build-fuzz/last-run.log
rc=0
.build-fuzz/release/wheelhouse-fuzz -max_total_time="$seconds" -max_len=4096 -dict=Fuzz/http.dict \
    -artifact_prefix=.build-fuzz/crashes/ -print_final_stats=1 "$corpus" >"$log" 2>&1 || rc=$?
grep -E "^#[0-9]+ +DONE|^Done|stat::number_of_executed_units|ERROR|SUMMARY|==[0-9]+==" "$log" || true
if [ "$rc" -ne 0 ]; then tail -40 "$log"; echo "fuzz: the target failed (exit $rc); input in .build-fuzz/crashes/"; fi
exit "$rc"
