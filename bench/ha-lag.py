#!/usr/bin/env python3
"""Change-feed lag between two nodes on one PostgreSQL database (#12), as a client sees it.

PutSecretValue through node A, then GetSecretValue through node B until it returns the new
value; prints p50/p90/p99/max of the time from A's answer to B's first new answer, over N
writes. bench/ha.sh starts the nodes and runs this; it is a benchmark, not a test.

    bench/ha-lag.py http://127.0.0.1:5441 http://127.0.0.1:5442 [N]
"""
import os, sys, time
import boto3
from botocore.config import Config

a_url, b_url = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 200
cfg = Config(retries={"max_attempts": 1}, region_name="eu-central-1")
a = boto3.client("secretsmanager", endpoint_url=a_url, config=cfg)
b = boto3.client("secretsmanager", endpoint_url=b_url, config=cfg)
name = "bench/lag-%d" % os.getpid()
a.create_secret(Name=name, SecretString="0")
b.get_secret_value(SecretId=name)
lags, polls = [], []
for i in range(1, n + 1):
    want = str(i)
    a.put_secret_value(SecretId=name, SecretString=want)
    t0 = time.perf_counter()
    k = 0
    while True:
        k += 1
        if b.get_secret_value(SecretId=name)["SecretString"] == want:
            break
    lags.append((time.perf_counter() - t0) * 1000)
    polls.append(k)
lags.sort()
q = lambda p: lags[min(len(lags) - 1, int(p * len(lags)))]
first = sum(1 for k in polls if k == 1)
print("lag_ms n=%d p50=%.2f p90=%.2f p99=%.2f max=%.2f first_read_new=%d/%d"
      % (n, q(0.5), q(0.9), q(0.99), lags[-1], first, n))
