#!/usr/bin/env bash
# Issue #16 part 5, soak and overload. It reports figures (it asserts no timing); it exits
# non-zero only when an answer other than success or throttling appeared.
#
#   soak      a mixed load (Encrypt, Decrypt, GenerateDataKey, GetSecretValue, PutSecretValue;
#             the ceiling benchmark's `mixed` workload) at CONNS connections for SECONDS, over
#             one working set, in one-minute runs; after each minute: requests/s, p50/p99,
#             errors, the server's RSS, open file descriptors, threads and the data dir's size.
#   overload  the same load at the server's concurrency limit (LIMIT in-flight requests,
#             [limits] max_concurrent_requests) and at twice it: goodput (successful requests/s)
#             at 2x against 1x, and how many requests were shed with ThrottlingException.
#
# usage: bench/soak.sh [SECONDS (default 3600)] [COFFER_BIN (default target/release/coffer)]
# env:   CONNS (default 16), LIMIT (default 16), OVERLOAD_SECS (default 30)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SECS="${1:-3600}"
BIN="${2:-$ROOT/target/release/coffer}"
CONNS="${CONNS:-16}"
LIMIT="${LIMIT:-16}"
OVERLOAD_SECS="${OVERLOAD_SECS:-30}"
SHARED="${COFFER_BENCH_DIR:-$ROOT/../shared/bench}"
[ -x "$BIN" ] || { echo "no coffer binary at $BIN (cargo build --release -p coffer)" >&2; exit 2; }
[ -d "$SHARED/loadgen" ] || { echo "no load generator at $SHARED/loadgen (set COFFER_BENCH_DIR)" >&2; exit 2; }

LG_TARGET="${LOADGEN_TARGET_DIR:-${TMPDIR:-/tmp}/coffer-bench-target}"
CARGO_TARGET_DIR="$LG_TARGET" cargo build -q --release --manifest-path "$SHARED/loadgen/Cargo.toml"
LOADGEN="$LG_TARGET/release/loadgen"

D=$(mktemp -d /tmp/coffer-soak.XXXXXX)
echo "# work directory: $D"
printf '[limits]\nmax_concurrent_requests = %s\n' "$LIMIT" >"$D/coffer.toml"
"$BIN" operator init --data-dir "$D/data" --config "$D/coffer.toml" >"$D/init.txt"
export AWS_ACCESS_KEY_ID=$(awk -F' *= *' '/aws_access_key_id/{print $2}' "$D/init.txt")
export AWS_SECRET_ACCESS_KEY=$(awk -F' *= *' '/aws_secret_access_key/{print $2}' "$D/init.txt")
PORT=5431
"$BIN" serve --listen 127.0.0.1:$PORT --data-dir "$D/data" --config "$D/coffer.toml" \
    >"$D/stdout.log" 2>"$D/stderr.log" &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
EP="http://127.0.0.1:$PORT"
"$LOADGEN" probe --endpoint "$EP" --region eu-central-1 --pid "$PID" >/dev/null

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
rss_mb() { awk '/VmRSS/{printf "%.1f", $2/1024}' "/proc/$PID/status"; }
fds() { ls "/proc/$PID/fd" | wc -l; }
threads() { awk '/Threads/{print $2}' "/proc/$PID/status"; }
bad=0
run() { # conns seconds -> the summary line
    "$LOADGEN" bench --endpoint "$EP" --region eu-central-1 --label coffer --workload mixed \
        --conns "$1" --duration "$2" --warmup 0 --secrets 64 --ciphertexts 64 --server-pid "$PID" 2>/dev/null |
        grep '^target='
}
# Errors other than throttling: STATUS:__type=count entries of err_detail without Throttling.
unexpected() { tr ',' '\n' <<<"$(field err_detail "$1")" | grep -v -e Throttling -e '^-$' -e '^$' || true; }

echo "# soak: mixed at $CONNS connections for ${SECS}s, limit $LIMIT in flight; pid $PID"
# One load generator for the whole soak, one measured run per minute (`--repeat`): its setup
# (a key, 64 secrets, 64 ciphertexts) is made once, so the working set stays the same and any
# growth is the server's, not the data's.
printf '%6s %9s %8s %8s %7s %9s %5s %7s %8s  %s\n' minute rps p50_ms p99_ms errors rss_mb fds threads db_mb other_errors
db_mb() { du -sm "$D/data" | cut -f1; }
printf '%6s %9s %8s %8s %7s %9s %5s %7s %8s\n' 0 - - - - "$(rss_mb)" "$(fds)" "$(threads)" "$(db_mb)"
minutes=$(( (SECS + 59) / 60 ))
m=0
while read -r line; do
    m=$((m + 1))
    other=$(unexpected "$line" | paste -sd, -)
    [ -n "$other" ] && bad=1
    printf '%6s %9s %8s %8s %7s %9s %5s %7s %8s  %s\n' "$m" "$(field rps "$line")" "$(field p50_ms "$line")" \
        "$(field p99_ms "$line")" "$(field errors "$line")" "$(rss_mb)" "$(fds)" "$(threads)" "$(db_mb)" "${other:--}"
done < <("$LOADGEN" bench --endpoint "$EP" --region eu-central-1 --label coffer --workload mixed \
    --conns "$CONNS" --duration 60 --repeat "$minutes" --warmup 0 --secrets 64 --ciphertexts 64 \
    --server-pid "$PID" 2>/dev/null | grep --line-buffered '^target=')

echo "# overload: ${OVERLOAD_SECS}s at the limit ($LIMIT connections) and at twice it ($((2 * LIMIT)))"
one=$(run "$LIMIT" "$OVERLOAD_SECS")
two=$(run $((2 * LIMIT)) "$OVERLOAD_SECS")
for l in "$one" "$two"; do
    other=$(unexpected "$l" | paste -sd, -)
    [ -n "$other" ] && bad=1
    printf 'conns=%s goodput_rps=%s total_rps=%s p99_ms=%s errors=%s err_detail=%s\n' "$(field conns "$l")" \
        "$(field rps "$l")" "$(field total_rps "$l")" "$(field p99_ms "$l")" "$(field errors "$l")" "$(field err_detail "$l")"
done
awk -v a="$(field rps "$one")" -v b="$(field rps "$two")" 'BEGIN { if (a > 0) printf "goodput at 2x / at 1x: %.2f\n", b / a }'
echo "# server: rss_mb=$(rss_mb) fds=$(fds) threads=$(threads); log lines at ERROR: $(grep -c ' ERROR ' "$D/stderr.log" || true)"
exit $bad
