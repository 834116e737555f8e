#!/usr/bin/env python3
"""Issue #17's measurement (it reports figures; it asserts nothing): cold start of `coffer serve
--dev --seed FILE` with a seed file of N entries (default 1,000: half KMS keys with a fixed ID, an
alias and test-seeded material, half secrets encrypted under them), from exec until
`GET /_coffer/health/ready` answers 200.

Three cases, each run --reps times (the median and the range are printed):
  memory   --data-dir :memory:, the CI throwaway server (nothing on disk)
  fresh    a new data directory: the seed is applied for the first time (every entry committed)
  again    the same data directory started again: the seed is re-applied and changes nothing

usage: bench/seed-cold-start.py [--bin target/release/coffer] [--entries 1000] [--reps 5]
Build the binary first: cargo build --release -p coffer
"""
import argparse
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
import urllib.request


def seed_yaml(entries: int) -> str:
    keys = entries // 2
    secrets = entries - keys
    out = ["version: 1", "accounts:", '  "000000000000":', "    regions:", "      eu-central-1:", "        keys:"]
    for i in range(keys):
        out += [
            f"          - id: {i:08x}-0000-4000-8000-{i:012x}",
            f"            description: bench key {i}",
            f"            aliases: [alias/bench-{i}]",
            f"            tags: {{ n: '{i}' }}",
            f"            material: {{ test_seed: bench-{i} }}",
        ]
    out.append("        secrets:")
    for i in range(secrets):
        out += [
            f"          - name: bench/secret-{i}",
            f"            kms_key: alias/bench-{i % max(keys, 1)}",
            f"            value: {{ string: value-{i} }}",
        ]
    return "\n".join(out) + "\n"


def start(binary: str, data_dir: str, seed: str, cwd: str) -> float:
    """Seconds from exec to a 200 from the readiness probe; the server is stopped after."""
    t0 = time.perf_counter()
    p = subprocess.Popen(
        [binary, "serve", "--dev", "--listen", "127.0.0.1:0", "--data-dir", data_dir, "--seed", seed],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("COFFER_") and k != "RUST_LOG"},
    )
    try:
        line = p.stdout.readline().strip()
        prefix = "coffer listening on http://"
        if not line.startswith(prefix):
            raise SystemExit(f"coffer did not start: {line!r} (exit {p.poll()})")
        url = f"http://{line[len(prefix):]}/_coffer/health/ready"
        with urllib.request.urlopen(url, timeout=10) as r:
            if r.status != 200:
                raise SystemExit(f"not ready: HTTP {r.status}")
        return time.perf_counter() - t0
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)


def report(name: str, times: list) -> None:
    ms = sorted(t * 1000 for t in times)
    print(f"{name:7s} median {statistics.median(ms):7.1f} ms   min {ms[0]:7.1f}   max {ms[-1]:7.1f}   (n={len(ms)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--bin", default=os.path.join(root, "target", "release", "coffer"))
    ap.add_argument("--entries", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    if not os.access(a.bin, os.X_OK):
        raise SystemExit(f"no coffer binary at {a.bin} (cargo build --release -p coffer)")
    work = tempfile.mkdtemp(prefix="coffer-seed-bench.")
    try:
        with open(os.path.join(work, "seed.yaml"), "w") as f:
            f.write(seed_yaml(a.entries))
        print(f"{a.bin}: a seed file of {a.entries} entries, {a.reps} runs each")
        memory, fresh, again = [], [], []
        for i in range(a.reps):
            memory.append(start(a.bin, ":memory:", "seed.yaml", work))
            d = os.path.join(work, f"data-{i}")
            fresh.append(start(a.bin, d, "seed.yaml", work))
            again.append(start(a.bin, d, "seed.yaml", work))
        report("memory", memory)
        report("fresh", fresh)
        report("again", again)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
