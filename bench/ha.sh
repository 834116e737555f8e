#!/usr/bin/env bash
# Several nodes on one PostgreSQL database (#12): requests per second of Encrypt,
# GetSecretValue and PutSecretValue against one node directly and against three nodes behind
# HAProxy, SigV4 verified, with the load generator of ../shared/bench. A benchmark, not a test:
# it prints figures and asserts nothing. Needs PostgreSQL (.ci/postgres installs and starts a
# throwaway one) and haproxy (Debian `haproxy`).
#
#   bench/ha.sh [SECONDS] [COFFER_BINARY]      # default 10 s per run, target/release/coffer
#
# On a 2-core machine every process (three nodes, PostgreSQL, HAProxy, the load generator)
# shares the same two cores, so three nodes cannot show the read path scaling with cores here;
# the figures show what the shared store costs and that the nodes serve as one.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SECS="${1:-10}"
BIN="${2:-${CARGO_TARGET_DIR:-$ROOT/target}/release/coffer}"
CONNS="${CONNS:-8,64}"
SHARED="${COFFER_BENCH_DIR:-$ROOT/../shared/bench}"
[ -x "$BIN" ] || { echo "no coffer binary at $BIN (cargo build --release -p coffer)" >&2; exit 2; }
command -v haproxy >/dev/null || { echo "no haproxy (apt-get install haproxy)" >&2; exit 2; }
LG_TARGET="${LOADGEN_TARGET_DIR:-${TMPDIR:-/tmp}/coffer-bench-target}"
CARGO_TARGET_DIR="$LG_TARGET" cargo build -q --release --manifest-path "$SHARED/loadgen/Cargo.toml"
LOADGEN="$LG_TARGET/release/loadgen"

"$ROOT/.ci/postgres" start >/dev/null
. /tmp/coffer-postgres.env
D=$(mktemp -d /tmp/coffer-ha-bench.XXXXXX)
echo "# work directory: $D"
SCHEMA="bench_$(date +%s)"
printf '[store]\nkind = "postgres"\nurl = "%s"\nschema = "%s"\n' "$COFFER_TEST_POSTGRES_URL" "$SCHEMA" >"$D/coffer.toml"
"$BIN" operator init --data-dir "$D/n1" --config "$D/coffer.toml" >"$D/init.txt"
for n in n2 n3; do
    mkdir -m 700 "$D/$n"
    cp "$D/n1/root-key" "$D/$n/"
    chmod 600 "$D/$n/"*
done
export AWS_ACCESS_KEY_ID=$(awk -F' *= *' '/aws_access_key_id/{print $2}' "$D/init.txt")
export AWS_SECRET_ACCESS_KEY=$(awk -F' *= *' '/aws_secret_access_key/{print $2}' "$D/init.txt")
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true' EXIT
i=0
for n in n1 n2 n3; do
    i=$((i + 1))
    "$BIN" serve --listen 127.0.0.1:544$i --data-dir "$D/$n" --config "$D/coffer.toml" \
        >"$D/$n.out" 2>"$D/$n.err" &
    PIDS+=($!)
    "$LOADGEN" probe --endpoint "http://127.0.0.1:544$i" --region eu-central-1 --pid "$!" >/dev/null
done
cat >"$D/haproxy.cfg" <<CFG
global
    maxconn 1024
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    http-reuse safe
frontend coffer
    bind 127.0.0.1:5440
    default_backend nodes
backend nodes
    balance roundrobin
    server n1 127.0.0.1:5441
    server n2 127.0.0.1:5442
    server n3 127.0.0.1:5443
CFG
haproxy -db -f "$D/haproxy.cfg" >"$D/haproxy.log" 2>&1 &
PIDS+=($!)
"$LOADGEN" probe --endpoint http://127.0.0.1:5440 --region eu-central-1 >/dev/null

echo "# $SECS s per run; connections $CONNS; SigV4 verified; PostgreSQL with fsync as .ci/postgres sets it"
for target in "one-node http://127.0.0.1:5441" "three-nodes-haproxy http://127.0.0.1:5440"; do
    set -- $target
    "$LOADGEN" bench --endpoint "$2" --region eu-central-1 --label "$1" \
        --workload encrypt,get-secret-value,put-secret-value --conns "$CONNS" \
        --duration "$SECS" --warmup 1 --secrets 64 2>/dev/null | grep '^target=' || true
done

# Change-feed lag (default consistency "eventual"): a write through node 1 seen through node 2.
python3 "$ROOT/bench/ha-lag.py" http://127.0.0.1:5441 http://127.0.0.1:5442 "${LAG_WRITES:-200}" ||
    echo "# lag: needs boto3 (pip install boto3)"
