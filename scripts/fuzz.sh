#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ (cargo-fuzz, libFuzzer) for a fixed time each and prints the
# executions and findings per target. Not part of the default CI run (it needs a nightly
# toolchain and takes minutes); see docs/fuzzing.md.
#
# usage: scripts/fuzz.sh [SECONDS_PER_TARGET (default 60)] [TARGET ...]
# Crashes land in fuzz/artifacts/<target>/; turn each into a regression test beside the code
# it broke, then delete the artifact.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SECS="${1:-60}"
[ $# -gt 0 ] && shift
cd "$ROOT/fuzz"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
rustup run nightly rustc --version >/dev/null 2>&1 || { echo "a nightly toolchain is needed (rustup toolchain install nightly)" >&2; exit 2; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/fuzz/target}"
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
    mapfile -t TARGETS < <(cargo +nightly fuzz list)
fi
cargo +nightly fuzz build -O "${TARGETS[@]/#/}" >/dev/null 2>&1 || cargo +nightly fuzz build -O
status=0
printf '%-22s %12s %10s %8s\n' target executions exec/s crashes
for t in "${TARGETS[@]}"; do
    mkdir -p "corpus/$t" "seeds/$t"
    log="$CARGO_TARGET_DIR/fuzz-$t.log"
    # -rss_limit_mb bounds memory (an unbounded allocation is a finding); -timeout a hang.
    if cargo +nightly fuzz run -O "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$SECS" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
        crashes=0
    else
        crashes=$(ls "artifacts/$t" 2>/dev/null | wc -l)
        status=1
    fi
    execs=$(awk '/stat::number_of_executed_units/{print $2}' "$log" | tail -1)
    rate=$(awk '/stat::average_exec_per_sec/{print $2}' "$log" | tail -1)
    printf '%-22s %12s %10s %8s\n' "$t" "${execs:-?}" "${rate:-?}" "$crashes"
    [ "$crashes" = 0 ] || { echo "  see $log and fuzz/artifacts/$t/"; grep -m3 -E "panicked|ERROR" "$log" | sed 's/^/  /' || true; }
done
exit $status
