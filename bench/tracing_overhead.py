"""What tracing costs a request and a task in CPU: a small Flask app and a Celery task, each
doing a few SQL statements on the local PostgreSQL and a Redis command (as a deposit's
request and its task do), with tracing off, with spans made but dropped unexported, and with
spans exported over OTLP/HTTP to a receiver in this process.

    .venv/bin/python bench/tracing_overhead.py [--requests 2000] [--sql 6]

Each mode runs in a fresh interpreter (instrumentation patches its libraries for good). The
figure is the child's CPU time (``time.process_time``, every thread: the export thread's
batching and protobuf too) per request answered through Flask's test client, and per task
run by ``Task.apply`` (its signals, so the Celery instrumentation's spans, and its SQL), after
a warm-up. The receiver runs in this process, so its decoding is not counted.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHILD = r"""
import sys, time
import redis
from flask import Flask
from opentelemetry import trace
from sqlalchemy import text

from shared import tracing
from shared.celery_app import make_celery
from shared.db import make_engine
from shared.settings import load_settings

mode, endpoint, n, sql = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
settings = load_settings("bench", {"otlp_endpoint": endpoint if mode == "exported" else ""})
layers = ["sqlalchemy", "redis", "celery"]
if mode == "exported":
    tracing.configure("bench", "bench", settings, layers)
elif mode == "dropped":
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Drop(SpanExporter):
        def export(self, spans):
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Drop()))
    trace.set_tracer_provider(provider)
    for layer in layers:
        tracing._INSTRUMENTS[layer]()

engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres", pool_size=1)
client = redis.Redis(host="127.0.0.1", port=6379, db=0)

def work():
    with engine.begin() as conn:
        for i in range(sql):
            conn.execute(text("SELECT :i"), {"i": i})
    client.get("bench:tracing:none")

app = Flask("bench")
if mode != "off":
    from opentelemetry.instrumentation.flask import FlaskInstrumentor
    FlaskInstrumentor().instrument_app(app)

@app.route("/accounts/<number>")
def account(number):
    work()
    return "ok"

celery = make_celery(settings)

@celery.task(name="bench.work")
def task(**_kw):
    work()

web = app.test_client()
figures = []
for label, once in (("request", lambda i: web.get(f"/accounts/{i}")),
                    ("task", lambda i: task.apply(kwargs={"application_id": str(i)}))):
    for i in range(200):
        once(i)
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(n):
        once(i)
    figures.append((time.process_time() - cpu) / n * 1e6)
    figures.append((time.perf_counter() - wall) / n * 1e6)
if mode != "off":
    trace.get_tracer_provider().shutdown()
print(" ".join(f"{f:.0f}" for f in figures))
"""


class _Receive(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--sql", type=int, default=6, help="SQL statements per request/task")
    args = parser.parse_args()
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receive)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{receiver.server_address[1]}"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CB_LOG_LEVEL": "WARNING"}
    print(f"{args.requests} each, {args.sql} SQL statements and 1 Redis command apiece")
    print(f"{'mode':10} {'request CPU':>12} {'wall':>8} {'task CPU':>10} {'wall':>8}  (us)")
    base: list[float] = []
    for mode in ("off", "dropped", "exported"):
        started = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", CHILD, mode, endpoint, str(args.requests), str(args.sql)],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        figures = [float(x) for x in out.stdout.split()]
        base = base or figures
        extra = f"+{figures[0] - base[0]:.0f} / +{figures[2] - base[2]:.0f} us CPU"
        print(
            f"{mode:10} {figures[0]:12.0f} {figures[1]:8.0f} {figures[2]:10.0f} {figures[3]:8.0f}"
            f"  {extra if mode != 'off' else ''}  ({time.perf_counter() - started:.0f} s)"
        )
    receiver.shutdown()


if __name__ == "__main__":
    main()
