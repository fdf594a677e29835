"""What the web metrics cost a request: the same small Flask app answered with and without
``shared.metrics`` wired in, in-process (no network), in both of prometheus_client's modes.

    .venv/bin/python bench/metrics_overhead.py [--requests 20000]

Each mode runs in a fresh interpreter (the value class is chosen at import); multiprocess
mode writes under a temporary directory, as gunicorn's workers do. Prints the mean time per
request without metrics, with them, the difference, and the time /metrics takes to render
after those requests (two URL rules, so a handful of series).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import sys, time
from flask import Flask
from shared import metrics

def app(with_metrics):
    a = Flask("bench")
    if with_metrics:
        metrics.init_app(a, "bench", "")
    a.add_url_rule("/accounts/<number>", "account", lambda number: "ok")
    a.add_url_rule("/healthz", "healthz", lambda: "ok")
    return a.test_client()

n = int(sys.argv[1])
out = []
for with_metrics in (False, True, False, True):
    client = app(with_metrics)
    for i in range(500):
        client.get(f"/accounts/{i}")
    start = time.perf_counter()
    for i in range(n):
        client.get(f"/accounts/{i}" if i % 2 else "/healthz")
    out.append((time.perf_counter() - start) / n * 1e6)
start = time.perf_counter()
for _ in range(20):
    client.get("/metrics")
page = (time.perf_counter() - start) / 20 * 1e3
bare, with_ = min(out[0], out[2]), min(out[1], out[3])
print(f"{bare:8.1f} us {with_:8.1f} us {with_ - bare:+7.1f} us   /metrics {page:.2f} ms")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20000)
    args = parser.parse_args()
    print(f"{args.requests} requests per run; mean per request")
    print(f"{'mode':14} {'without':>11} {'with':>11} {'cost':>10}")
    for mode in ("single", "multiprocess"):
        env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
        with tempfile.TemporaryDirectory() as directory:
            if mode == "multiprocess":
                env["PROMETHEUS_MULTIPROC_DIR"] = directory
            started = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(args.requests)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
        took = time.perf_counter() - started
        print(f"{mode:14} {out.stdout.strip()}   ({took:.0f} s)")


if __name__ == "__main__":
    main()
