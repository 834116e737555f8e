#!/usr/bin/env bash
# Issue #11's benchmark (it reports figures; it asserts nothing): Encrypt and PutSecretValue
# throughput of one Coffer data directory served four ways, side by side in one run of the
# ceiling benchmark's compare.sh (../shared/bench), SigV4 verified with the root credentials:
#
#   file            the file seal, no audit trail
#   file+audit      the file seal, the audit trail on (file sink, fail_closed, fsync batch)
#   file+audit-nosync  the same trail with fsync = "never" (survives kill -9, not a power cut)
#   pkcs11          the PKCS#11 seal (SoftHSM2), no audit trail
#   pkcs11+audit    the PKCS#11 seal and the audit trail
#
# usage: bench/audit-and-seal.sh [COFFER_BIN] [compare.sh options, e.g. --conns 8,64 --reps 3]
# COFFER_BIN defaults to target/release/coffer (build it with `cargo build --release -p coffer`).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${1:-$ROOT/target/release/coffer}"
[ $# -gt 0 ] && shift
SHARED="${COFFER_BENCH_DIR:-$ROOT/../shared/bench}"
SOFTHSM=/usr/lib/softhsm/libsofthsm2.so
[ -x "$BIN" ] || { echo "no coffer binary at $BIN (cargo build --release -p coffer)" >&2; exit 2; }
[ -f "$SOFTHSM" ] || { echo "SoftHSM2 is not installed ($SOFTHSM; apt-get install softhsm2)" >&2; exit 2; }
[ -x "$SHARED/compare.sh" ] || { echo "no ceiling benchmark at $SHARED (set COFFER_BENCH_DIR)" >&2; exit 2; }

D=$(mktemp -d /tmp/coffer-audit-seal.XXXXXX)
echo "work directory: $D"
mkdir -p "$D/tokens"
export SOFTHSM2_CONF="$D/softhsm2.conf"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$D/tokens" >"$SOFTHSM2_CONF"
softhsm2-util --init-token --free --label coffer --so-pin 12345678 --pin 4321 >/dev/null
export COFFER_SEAL_PIN=4321

PKCS11="[seal]
module = \"$SOFTHSM\"
token_label = \"coffer\""
audit() { printf '[audit]\nfile = "%s/trail.jsonl"\nfail_closed = true\nfsync = "%s"\n' "$1" "${2:-batch}"; }
printf '%s\nkind = "file"\n' "$PKCS11" >"$D/file.toml"
{ printf '%s\nkind = "file"\n' "$PKCS11"; audit "$D/audit-file"; } >"$D/file+audit.toml"
{ printf '%s\nkind = "file"\n' "$PKCS11"; audit "$D/audit-never" never; } >"$D/file+audit-nosync.toml"
printf '%s\nkind = "pkcs11"\n' "$PKCS11" >"$D/pkcs11.toml"
{ printf '%s\nkind = "pkcs11"\n' "$PKCS11"; audit "$D/audit-pkcs11"; } >"$D/pkcs11+audit.toml"

# One data directory (so one set of root credentials), copied four times; two copies are moved
# to the PKCS#11 seal.
"$BIN" operator init --data-dir "$D/data" --config "$D/file.toml" >"$D/init.txt"
AK=$(awk -F' *= *' '/aws_access_key_id/{print $2}' "$D/init.txt")
SK=$(awk -F' *= *' '/aws_secret_access_key/{print $2}' "$D/init.txt")
for name in file file+audit file+audit-nosync pkcs11 pkcs11+audit; do
    cp -a "$D/data" "$D/data-$name"
done
for name in pkcs11 pkcs11+audit; do
    "$BIN" operator seal-migrate --to pkcs11 --data-dir "$D/data-$name" --config "$D/file.toml" >/dev/null
done

port=5421
starts=()
for name in ${COFFER_BENCH_SERVERS:-file file+audit file+audit-nosync pkcs11 pkcs11+audit}; do
    starts+=(--start "$name=http://127.0.0.1:$port=$BIN serve --listen 127.0.0.1:$port --data-dir $D/data-$name --config $D/$name.toml")
    port=$((port + 1))
done
export AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK
"$SHARED/compare.sh" --servers "" "${starts[@]}" --baseline file \
    --workloads encrypt,put-secret-value --conns 8 --reps 3 \
    --loadgen-args "--access-key $AK --secret-key $SK" "$@"
