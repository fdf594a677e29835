"""Notify under load: events through the queue to an SMTP sink and a webhook receiver, next
to a bare Celery round trip in the same run.

    .venv/bin/python bench/notify.py [--count 20000] [--rate 0] [--concurrency 2]

Makes its own notify database (migrated), Redis DB and key directory, all removed at the end,
also on failure or Ctrl-C. In a separate process it runs the sinks on loopback: an aiosmtpd
SMTP server (CB_SMTP_HOST/PORT, no STARTTLS) that notes the arrival time of every message by
its Message-ID (the delivery id), and a threaded HTTP webhook receiver that checks every
signature (``channels.webhook.verify``) and notes the arrival time by X-CreditBank-Delivery.
SMS go to the file provider (CB_SMS_PROVIDER=file, under the key directory): the file's
mtime is its arrival. One webhook is registered (a row written straight into ``webhooks``)
for ``intake.application_decided`` at /ZJ/B01/S001/, above the acceptance point AP000001.
The channel rate limits are raised out of the way (CB_NOTIFY_RATE_LIMITS, printed).

It starts the notify worker as the Procfile does (``celery -A services.notify.worker worker
-Q notify --concurrency 2``) and a bare one-process Celery worker on a private queue, then
measures the bare round trip on the idle system (a task whose worker LPUSHes a marker that
the client BRPOPs), publishes ``--count`` ``notify.deliver`` messages to the ``notify`` queue
(unpaced unless ``--rate``; phone and e-mail sealed beforehand, a pool of distinct values),
each an ``intake.application_decided`` that plans an SMS, an e-mail and a webhook delivery,
and waits until every delivery is sent, probing the bare round trip every 100 ms meanwhile.
Beat is not run: the bench sends ``notify.dispatch`` every 15 s itself, as beat would.

It prints, per channel, the deliveries per second (completed deliveries over the time from
the first publish to the last arrival) and p50/p99 event-to-delivery (arrival at the sink
minus the publish time of the delivery's event), the bare round trip's p50/p99 (idle and
under load) and the ratio of each channel's p99 to the round trip's p99. Checks: every event
recorded once, one SMS, one e-mail and one webhook delivery per event, each arrived exactly
once at its sink (SMS: one file per delivery; the file provider cannot show a repeat), every
signature valid, nothing pending or dead, nothing refused. Exits 1 if a check fails.

It ends with its headline figures, ``name: value`` one a line: ``events_per_s`` (events over
the time from the first publish to the last arrival), ``notify_worker_cpu_ms_per_event``
and ``notify_worker_cores`` (the CPU time of the worker's process group, main process and
pool, from the first publish until drained), ``events_per_s_per_core`` (events over those
CPU seconds: the rate divided by the cores it took), ``bare_task_cpu_ms`` (the bare
worker's CPU per round trip while the idle round trip was measured, counted the same way)
and ``notify_cpu_per_event_over_bare_task``, then ``deliveries_lost`` (an event's channel on
which nothing arrived) and ``deliveries_duplicated`` (arrivals repeating one). Run it three
times and take the medians: the machine is shared.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import math
import multiprocessing as mp
import os
import re
import secrets
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from bench._support import (  # noqa: E402
    ROUNDTRIP_MODULE,
    ROUNDTRIP_QUEUE,
    Env,
    Prober,
    Processes,
    RoundTrip,
    cpu_seconds,
    exit_on_sigterm,
    free_port,
    idle_round_trips,
    load_roundtrip,
    ms,
    percentile,
    print_log_tails,
    wait_workers,
)

LOGLEVEL = "WARNING"  # the Celery workers' --loglevel
EVENT_TYPE = "intake.application_decided"
UNIT, UNIT_PATH = "AP000001", "/ZJ/B01/S001/AP000001/"
HOOK_PATH = "/ZJ/B01/S001/"  # the sub-centre's subtree: the point's events included
RATE_LIMITS = "sms=100000,email=100000,webhook=100000"
SEALED_POOL = 200  # distinct phone numbers and addresses, sealed before the clock starts
DISPATCH_EVERY = 15.0  # seconds, as beat sends notify.dispatch

# --- setup ---------------------------------------------------------------------------------


def setup(env: Env, smtp_port: int) -> None:
    """The notify database migrated; e-mail to the SMTP sink, SMS to files in the var
    directory, the channels' rate limits out of the way."""
    from shared.migrations import upgrade

    with contextlib.redirect_stdout(io.StringIO()):  # the bootstrap's "keys: created" lines
        env.create(
            {
                "CB_SMTP_HOST": "127.0.0.1",
                "CB_SMTP_PORT": str(smtp_port),
                "CB_SMTP_STARTTLS": "false",
                "CB_SMS_PROVIDER": "file",
                "CB_SMS_DIR": str(env.var_dir / "sms"),
                "CB_NOTIFY_RATE_LIMITS": RATE_LIMITS,
            }
        )
        upgrade("notify", env.url("notify"))


# --- the sinks, in a process of their own -------------------------------------------------

MESSAGE_ID = re.compile(rb"^Message-ID:\s*<([^@>]+)@", re.MULTILINE | re.IGNORECASE)


def sinks_main(smtp_port: int, secret: str, conn: Any, counts: Any, stop: Any) -> None:
    """SMTP sink and webhook receiver; arrival times sent back over ``conn`` at the end."""
    from aiosmtpd.controller import Controller

    from services.notify.channels import webhook

    mails: list[tuple[str, float]] = []
    hooks: list[tuple[str, float, bool]] = []
    lock = threading.Lock()

    class Mailbox:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            at = time.time()
            found = MESSAGE_ID.search(envelope.original_content or envelope.content)
            with lock:
                mails.append((found.group(1).decode() if found else "?", at))
                counts[0] += 1
            return "250 Message accepted"

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            at = time.time()
            ok = webhook.verify(
                secret,
                self.headers["X-CreditBank-Timestamp"],
                body,
                self.headers["X-CreditBank-Signature"],
            )
            with lock:
                hooks.append((self.headers["X-CreditBank-Delivery"], at, ok))
                counts[1] += 1
            self.send_response(200 if ok else 401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    ThreadingHTTPServer.request_queue_size = 256
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    controller = Controller(Mailbox(), hostname="127.0.0.1", port=smtp_port)
    controller.start()
    conn.send(server.server_address[1])
    stop.wait()
    controller.stop()
    server.shutdown()
    server.server_close()
    with lock:
        conn.send((mails, hooks))
    conn.close()


class Sinks:
    def __init__(self, smtp_port: int, secret: str) -> None:
        ctx = mp.get_context("fork")
        self.counts = ctx.Array("l", 2)  # mails, webhook posts
        self.stop = ctx.Event()
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(
            target=sinks_main, args=(smtp_port, secret, child, self.counts, self.stop)
        )
        self.proc.start()
        if not self.conn.poll(30):
            raise RuntimeError("the sinks did not start")
        self.hook_port = int(self.conn.recv())

    def finish(self) -> tuple[list[tuple[str, float]], list[tuple[str, float, bool]]]:
        self.stop.set()
        if not self.conn.poll(60):
            raise RuntimeError("the sinks did not report")
        mails, hooks = self.conn.recv()
        self.proc.join(timeout=10)
        return mails, hooks

    def kill(self) -> None:
        if self.proc.is_alive():
            self.stop.set()
            self.proc.join(timeout=5)
            if self.proc.is_alive():
                self.proc.kill()
                self.proc.join(timeout=5)


# --- the load -----------------------------------------------------------------------------


def register_webhook(env: Env, url: str, secret: str) -> None:
    with psycopg.connect(env.dsn("notify"), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO webhooks (unit_code, unit_path, url, event_types, secret, created_by_id)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            ("S001", HOOK_PATH, url, [EVENT_TYPE], secret, 1),
        )


def sealed_pool(size: int) -> list[dict[str, str]]:
    from shared import sealing
    from shared.settings import load_settings

    settings = load_settings("intake")
    public = settings.key_file(settings.notify_public_key_file, "notify_seal_public.pem")
    pem = public.read_bytes()
    return [
        {
            "phone": sealing.seal(pem, f"139{i:08d}"),
            "email": sealing.seal(pem, f"learner{i}@example.com"),
        }
        for i in range(size)
    ]


def event(i: int, sealed: dict[str, str]) -> dict[str, Any]:
    return {
        "message_id": str(uuid.uuid4()),
        "event_type": EVENT_TYPE,
        "occurred_at": datetime.now(UTC).isoformat(),
        "unit_code": UNIT,
        "unit_path": UNIT_PATH,
        "recipient_staff_ids": [],
        "data": {"kind": "deposit", "outcome": "approved", "application_id": str(uuid.uuid4())},
        "sealed": sealed,
    }


def publish(app: Any, count: int, rate: float, pool: list[dict[str, str]]) -> dict[str, float]:
    """``notify.deliver`` ``count`` times; the publish time (epoch seconds) of each event."""
    payloads = [event(i, pool[i % len(pool)]) for i in range(count)]
    published: dict[str, float] = {}
    start = time.perf_counter()
    with app.producer_or_acquire() as producer:
        for i, payload in enumerate(payloads):
            if rate:
                ahead = start + i / rate - time.perf_counter()
                if ahead > 0:
                    time.sleep(ahead)
            published[payload["message_id"]] = time.time()
            app.send_task(
                "notify.deliver",
                kwargs=payload,
                task_id=payload["message_id"],
                queue="notify",
                producer=producer,
            )
    return published


def status(env: Env) -> tuple[int, dict[str, int]]:
    with psycopg.connect(env.dsn("notify")) as conn:
        events = conn.execute("SELECT count(*) FROM events").fetchone()[0]  # type: ignore[index]
        rows = conn.execute("SELECT status, count(*) FROM deliveries GROUP BY status").fetchall()
    return int(events), {str(s): int(n) for s, n in rows}


def wait_drained(env: Env, app: Any, procs: Processes, count: int, timeout: float) -> float:
    """Until every event is recorded and no delivery is pending; the seconds it took."""
    start = time.monotonic()
    last_dispatch = start
    last_print = start
    while True:
        procs.check_alive()
        events, by_status = status(env)
        now = time.monotonic()
        if events == count and not by_status.get("pending"):
            return now - start
        if now - start > timeout:
            raise TimeoutError(f"not drained in {timeout:.0f} s: {events} events, {by_status}")
        if now - last_dispatch >= DISPATCH_EVERY:
            app.send_task("notify.dispatch", queue="notify")
            last_dispatch = now
        if now - last_print >= 10:
            print(f"  ... {now - start:.0f} s: {events} events, {by_status}", flush=True)
            last_print = now
        time.sleep(0.5)


def sms_arrivals(env: Env) -> dict[str, float]:
    return {p.stem: p.stat().st_mtime for p in (env.var_dir / "sms").glob("*.txt")}


# --- figures and checks -------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20000, help="events to publish")
    parser.add_argument("--rate", type=float, default=0, help="events/s to publish (0: unpaced)")
    parser.add_argument("--concurrency", type=int, default=2, help="notify worker processes")
    parser.add_argument("--baseline-samples", type=int, default=500)
    parser.add_argument("--timeout", type=float, default=0, help="seconds to drain (default: auto)")
    args = parser.parse_args(argv)
    timeout = args.timeout or 120 + 0.1 * args.count
    exit_on_sigterm()

    env = Env("bench_notify", ("notify",))
    procs = Processes(env)
    sinks: Sinks | None = None
    failed = True
    try:
        smtp_port, secret = free_port(), secrets.token_hex(32)
        setup(env, smtp_port)
        sinks = Sinks(smtp_port, secret)
        register_webhook(env, f"http://127.0.0.1:{sinks.hook_port}/hook", secret)
        roundtrip_app = load_roundtrip(env)
        notify_app = importlib.import_module("services.notify.worker").celery
        procs.celery(
            "notify",
            "services.notify.worker",
            "notify",
            "notify@bench",
            args.concurrency,
            loglevel=LOGLEVEL,
        )
        procs.celery(
            "roundtrip", ROUNDTRIP_MODULE, ROUNDTRIP_QUEUE, "roundtrip@bench", 1, loglevel=LOGLEVEL
        )
        wait_workers(roundtrip_app, ["notify@bench", "roundtrip@bench"], procs)
        pool = sealed_pool(min(SEALED_POOL, args.count))

        print(
            f"notify: {args.count} {EVENT_TYPE} events at {UNIT} "
            + (f"published at {args.rate:g}/s" if args.rate else "published unpaced")
            + ", each planning an SMS, an e-mail and a webhook delivery"
        )
        print(
            f"processes: notify worker --concurrency {args.concurrency} (prefork, Procfile), "
            "bare round-trip worker --concurrency 1, sinks in one process (aiosmtpd, "
            "ThreadingHTTPServer); beat not run, the bench sends notify.dispatch every "
            f"{DISPATCH_EVERY:g} s"
        )
        print(
            f"settings: CB_NOTIFY_RATE_LIMITS={RATE_LIMITS} (the default is "
            "sms=20,email=20,webhook=50); CB_SMTP_STARTTLS=false; SMS: CB_SMS_PROVIDER=file "
            "(arrival = the file's mtime)"
        )
        groups = {
            procs.procs["notify"].pid: "notify worker",
            procs.procs["roundtrip"].pid: "bare round-trip worker",
        }
        idle, bare_task_cpu = idle_round_trips(
            roundtrip_app, env.redis_url, groups, "bare round-trip worker", args.baseline_samples
        )
        print(
            f"bare Celery round trip, idle: {len(idle)} samples, "
            f"{bare_task_cpu * 1000:.2f} ms of the bare worker's CPU a task",
            flush=True,
        )

        pids = {
            os.getpid(): "bench client (publisher, prober)",
            sinks.proc.pid: "sinks (SMTP, webhook)",
        }
        cpu_before = cpu_seconds(groups, pids)
        prober = Prober(RoundTrip(roundtrip_app, env.redis_url))
        prober.start()
        first = time.time()
        published = publish(notify_app, args.count, args.rate, pool)
        publish_seconds = time.time() - first
        print(
            f"published {len(published)} in {publish_seconds:.1f} s "
            f"({len(published) / publish_seconds:.0f}/s)",
            flush=True,
        )
        drain = wait_drained(env, notify_app, procs, args.count, timeout)
        cpu = cpu_seconds(groups, pids)
        under_load = prober.finish()
        # The last deliveries are marked sent after their sink answered: nothing in flight.
        time.sleep(0.5)
        mails, hooks = sinks.finish()
        sms = sms_arrivals(env)
        print(f"drained {drain + publish_seconds:.1f} s after the first publish", flush=True)

        with psycopg.connect(env.dsn("notify")) as conn:
            deliveries = conn.execute(
                "SELECT id::text, event_id::text, channel::text, status::text, attempts "
                "FROM deliveries"
            ).fetchall()
            event_ids = [r[0] for r in conn.execute("SELECT id::text FROM events").fetchall()]
            refused = conn.execute("SELECT count(*) FROM refused_events").fetchone()[0]  # type: ignore[index]

        wall = drain + publish_seconds
        used = {name: after - cpu_before.get(name, 0.0) for name, after in cpu.items()}
        print(f"CPU seconds from the first publish until drained ({wall:.1f} s wall, 2 cores):")
        for name, seconds in sorted(used.items()):
            print(f"  {name:<36} {seconds:>7.1f} s  ({seconds / wall * 100:>4.0f}% of one core)")
        failed, lost, duplicated = report(
            args, published, deliveries, event_ids, refused, mails, hooks, sms, idle, under_load
        )
        headline(
            published, [mails, hooks, list(sms.items())], used["notify worker"], wall, bare_task_cpu
        )
        print(f"deliveries_lost: {lost}")
        print(f"deliveries_duplicated: {duplicated}")
    finally:
        if failed:
            print_log_tails(env, warnings=True)
        procs.stop_all()
        if sinks is not None:
            sinks.kill()
        env.remove()
    if failed:
        sys.exit(1)


def headline(
    published: dict[str, float],
    arrivals: list[list[Any]],
    notify_cpu: float,
    wall: float,
    bare_task_cpu: float,
) -> None:
    """The headline figures, ``name: value`` one a line, last: events a second (first publish
    to the last arrival), the notify worker's CPU per event and its cores, events a second
    per core (events over the worker's CPU seconds: the rate over the cores it took), and
    the CPU per event over the bare round trip's CPU per task measured in the same run."""
    last = max(at for sink in arrivals for _, at, *_ in sink)
    count = len(published)
    per_event = notify_cpu / count
    print()
    print(f"events_per_s: {count / (last - min(published.values())):.1f}")
    print(f"notify_worker_cpu_ms_per_event: {per_event * 1000:.2f}")
    print(f"notify_worker_cores: {notify_cpu / wall:.2f}")
    print(f"events_per_s_per_core: {count / notify_cpu:.1f}")
    print(f"bare_task_cpu_ms: {bare_task_cpu * 1000:.2f}")
    print(f"notify_cpu_per_event_over_bare_task: {per_event / bare_task_cpu:.2f}")


def report(
    args: argparse.Namespace,
    published: dict[str, float],
    deliveries: list[tuple[str, str, str, str, int]],
    event_ids: list[str],
    refused: int,
    mails: list[tuple[str, float]],
    hooks: list[tuple[str, float, bool]],
    sms: dict[str, float],
    idle: list[float],
    under_load: list[float],
) -> tuple[bool, int, int]:
    """Print the figures and the checks; True if a check failed, the (event, channel) pairs
    of which nothing arrived, and the arrivals that repeated one."""
    event_of = {d[0]: d[1] for d in deliveries}
    first = min(published.values())
    arrivals = {
        "email": list(mails),
        "webhook": [(key, at) for key, at, _ in hooks],
        "sms": list(sms.items()),
    }
    idle_p99, load_p99 = percentile(idle, 0.99), percentile(under_load, 0.99)

    print()
    print(
        f"{'':<36} {'n':>6} {'msg/s':>8} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9} "
        f"{'p99/rt idle':>11} {'p99/rt load':>11}"
    )
    for channel in ("email", "webhook", "sms"):
        got = [(k, at) for k, at in arrivals[channel] if k in event_of]
        lat = [at - published[event_of[k]] for k, at in got if event_of[k] in published]
        last = max((at for _, at in got), default=math.nan)
        rate = len(got) / (last - first) if got else math.nan
        p99 = percentile(lat, 0.99)
        print(
            f"{'event -> ' + channel + ' arrival':<36} {len(lat):>6} {rate:>8.1f} "
            f"{ms(percentile(lat, 0.5)):>9} {ms(p99):>9} {ms(max(lat, default=math.nan)):>9} "
            f"{p99 / idle_p99:>11.1f} {p99 / load_p99:>11.1f}"
        )
    for label, values in (
        ("bare Celery round trip, idle", idle),
        ("  ... during the load", under_load),
    ):
        print(
            f"{label:<36} {len(values):>6} {'':>8} {ms(percentile(values, 0.5)):>9} "
            f"{ms(percentile(values, 0.99)):>9} {ms(max(values, default=math.nan)):>9}"
        )
    print(
        "msg/s: deliveries arrived / (last arrival - first publish); p99/rt: the channel's p99 "
        "over the bare round trip's p99 (idle, and sampled every 100 ms during the load)"
    )
    retried = sum(1 for d in deliveries if d[4] > 1)
    print(f"deliveries that took more than one attempt: {retried}")

    print()
    ok = True

    def check(name: str, passed: bool, detail: str) -> None:
        nonlocal ok
        ok = ok and passed
        print(f"check {'ok  ' if passed else 'FAIL'} {name}: {detail}")

    count = len(published)
    check(
        "every event recorded once",
        len(event_ids) == count and set(event_ids) == set(published),
        f"{len(event_ids)} events recorded, {len(set(event_ids) & set(published))} of "
        f"{count} published",
    )
    per_event = Counter((d[1], d[2]) for d in deliveries)
    for channel in ("sms", "email", "webhook"):
        planned = [e for e in published if per_event[(e, channel)] == 1]
        extra = sum(1 for (e, c), n in per_event.items() if c == channel and n != 1)
        check(
            f"one {channel} delivery per event",
            len(planned) == count and not extra,
            f"{len(planned)} of {count} events, {extra} with more than one",
        )
    statuses = Counter(d[3] for d in deliveries)
    check(
        "nothing pending or dead",
        set(statuses) == {"sent"},
        ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())),
    )
    check("nothing refused", refused == 0, f"{refused} refused events")
    lost = duplicated = 0
    for channel in ("email", "webhook", "sms"):
        expected = {d[0] for d in deliveries if d[2] == channel}
        seen = Counter(k for k, _ in arrivals[channel])
        dupes = sum(n - 1 for n in seen.values() if n > 1)
        missing = len(expected - set(seen))
        unknown = len(set(seen) - expected)
        reached = {event_of[k] for k in seen if k in event_of} & set(published)
        lost, duplicated = lost + count - len(reached), duplicated + dupes
        check(
            f"each {channel} arrived once",
            not dupes and not missing and not unknown,
            f"{sum(seen.values())} arrivals, {len(expected)} expected, {dupes} duplicate(s), "
            f"{missing} missing, {unknown} unknown",
        )
    bad = sum(1 for _, _, good in hooks if not good)
    check("webhook signatures valid", bad == 0, f"{bad} invalid of {len(hooks)}")
    return not ok, lost, duplicated


if __name__ == "__main__":
    main()
