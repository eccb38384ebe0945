#!/usr/bin/env bash
# Runs every vtsim fuzz target for a bounded time.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Default: 60 s for each of scenario, sweep and exchanges. Needs cargo-fuzz
# (`cargo install cargo-fuzz`); on a stable toolchain the sanitizer flags
# are unlocked with RUSTC_BOOTSTRAP=1. Seeds are read from
# fuzz/corpus/<target>/ and new finds are kept in fuzz/corpus-new/<target>/
# (not committed); crashes land in fuzz/artifacts/<target>/. Exits non-zero
# if any target found a crash, timeout or out-of-memory.
set -euo pipefail

secs="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(scenario sweep exchanges)
fi

cd "$(dirname "$0")/../fuzz"
export RUSTC_BOOTSTRAP=1
cargo fuzz build

status=0
for t in "${targets[@]}"; do
    mkdir -p "corpus-new/$t" "artifacts/$t"
    dict=()
    if [ -f "$t.dict" ]; then
        dict=("-dict=$t.dict")
    fi
    echo "== $t: ${secs} s"
    # -timeout: a single input taking over 10 s is a hang.
    # -rss_limit_mb: a runaway allocation is a finding, not a killed host.
    # -max_len: room for the bundled scenarios (up to ~6 kB) to grow.
    if ! cargo fuzz run "$t" "corpus-new/$t" "corpus/$t" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
        -artifact_prefix="artifacts/$t/" -print_final_stats=1 "${dict[@]}"; then
        echo "!! $t found a problem: see fuzz/artifacts/$t/"
        status=1
    fi
done
exit $status
