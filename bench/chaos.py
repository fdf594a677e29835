"""The whole system under faults: a Jepsen-style run, bounded in time, on loopback only.

    .venv/bin/python bench/chaos.py [--duration 600] [--seed N] [--rate 2] [--gap 20]
                                    [--postgres-down 30] [--faults kill,poison,...]

Runs every process the ``Procfile`` lists (what ``make run`` starts: the five web services,
every relay, every queue's worker, beat, Flower, the metrics exporter), against servers of
its own under a temporary directory: a PostgreSQL cluster made with ``initdb`` and a
``redis-server``, on spare ports, reached by the services through a TCP fault proxy
(bench/faultproxy.py), and an SMTP sink for notify's e-mail (SMS go to files). While a
steady mixed load goes on (bench/chaos_load.py: openings, deposits, resubmissions, imports,
two reviewers deciding), the injector (bench/chaos_faults.py) kills processes, restarts
Redis empty, stops PostgreSQL, cuts and slows the network and pushes poison and duplicate
messages onto every queue. A process that exits by itself is started again and counted.

Then it settles: faults and the load stop, the reviewers go on deciding until nothing is
in review, the queues and the unacked set are empty, every outbox is sent and notify owes
no delivery (at most ``--settle`` seconds). The checker (bench/chaos_checker.py) reads the
four databases, the SMS files, the SMTP sink and Redis, and the run prints, one per line,
``faults_injected_<kind>: N``, ``operations_accepted_<kind>: N`` and ``violations: N``.
It exits 1 on any violation, or if a fault kind was never injected.

Everything it starts is stopped, and everything it made removed, in a ``finally``: also on
Ctrl-C or SIGTERM. The machine's own PostgreSQL and Redis are never touched.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import random
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
import redis  # noqa: E402

from bench import chaos_checker  # noqa: E402
from bench._support import BIN, Processes, free_port, wait_healthy, wait_workers  # noqa: E402
from bench.chaos_faults import KINDS, Injector  # noqa: E402
from bench.chaos_load import Load  # noqa: E402
from bench.chaos_servers import OwnPostgres, OwnRedis, SmtpSink  # noqa: E402
from bench.faultproxy import FaultProxy  # noqa: E402
from bench.review_flow import ADMIN, PASSWORD  # noqa: E402

SERVICES = ("org", "intake", "review", "notify")
WEB = ("org", "intake", "review", "notify", "window")
# Settings that make a run of minutes able to show recovery: a killed worker's message comes
# back after 90 s (not an hour), the sweeps look every 30 s, notify retries within seconds.
QUICK = {
    "CB_TASK_TIME_LIMIT": "60",
    "CB_VISIBILITY_TIMEOUT": "90",
    "CB_REDELIVERY_CHECK_SECONDS": "10",
    "CB_RECONCILE_GRACE_SECONDS": "30",
    "CB_RECONCILE_INTERVAL_SECONDS": "30",
    "CB_IMPORT_RESUME_SECONDS": "30",
    "CB_NOTIFY_RETRY_BASE_SECONDS": "2",
    "CB_NOTIFY_RETRY_MAX_SECONDS": "20",
    "CB_NOTIFY_MAX_ATTEMPTS": "100",
    "CB_NOTIFY_RATE_LIMITS": "sms=1000,email=1000,webhook=1000",
}


class World:
    """The servers, the proxies, the settings and the processes of one run."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.var_dir = root / "var"
        self.postgres = OwnPostgres(root, free_port())
        self.redis = OwnRedis(root, free_port())
        self.smtp = SmtpSink(root, free_port())
        self.proxies = {
            "postgres": FaultProxy(free_port(), self.postgres.port),
            "redis": FaultProxy(free_port(), self.redis.port),
        }
        self.ports = {name: free_port() for name in (*WEB, "flower", "metrics")}
        self.direct_redis_url = f"redis://127.0.0.1:{self.redis.port}/0"
        self.vars: dict[str, str] = {}
        self.procs = Processes(self)  # type: ignore[arg-type]  # an Env's vars and var_dir
        self.commands: dict[str, list[str]] = {}
        self.lock = threading.Lock()  # one of kill/restart/watch at a time
        self.unexpected_exits: Counter[str] = Counter()

    # --- making it ------------------------------------------------------------------------

    def dsn(self, service: str) -> str:
        """Straight to PostgreSQL (the harness's own reads: never through the proxy)."""
        return f"postgresql://postgres@127.0.0.1:{self.postgres.port}/creditbank_{service}"

    def create(self) -> None:
        self.var_dir.mkdir()
        (self.var_dir / "logs").mkdir()
        self.postgres.create()
        self.redis.start()
        self.smtp.start()
        for proxy in self.proxies.values():
            proxy.start()
        with psycopg.connect(
            self.dsn("postgres").rsplit("/", 1)[0] + "/postgres", autocommit=True
        ) as conn:
            for service in SERVICES:
                conn.execute(f'CREATE DATABASE "creditbank_{service}"')
        pg, rd = self.proxies["postgres"].listen, self.proxies["redis"].listen
        self.vars = {
            **{
                f"CB_{s.upper()}_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{pg}/creditbank_{s}"
                for s in SERVICES
            },
            "CB_REDIS_URL": f"redis://127.0.0.1:{rd}/0",
            "CB_VAR_DIR": str(self.var_dir),
            "CB_ENV": "test",
            "CB_LOG_LEVEL": "INFO",
            "CB_PASSWORD_TIME_COST": "1",
            "CB_PASSWORD_MEMORY_COST": "8192",
            "CB_ACCESS_TOKEN_TTL": str(12 * 3600),
            "CB_ADMIN_USERNAME": ADMIN,
            "CB_ADMIN_PASSWORD": PASSWORD,
            "CB_FLOWER_USER": "chaos",
            "CB_FLOWER_PASSWORD": "chaos-flower",
            "CB_SMS_DIR": str(self.root / "sms"),
            "CB_SMTP_HOST": "127.0.0.1",
            "CB_SMTP_PORT": str(self.smtp.port),
            "CB_SMTP_STARTTLS": "false",
            "CB_WORKER_METRICS_PORT": "0",
            "CB_METRICS_EXPORTER_PORT": str(self.ports["metrics"]),
            **{f"CB_{s.upper()}_URL": f"http://127.0.0.1:{self.ports[s]}" for s in SERVICES},
            "CB_WINDOW_PUBLIC_URL": f"http://127.0.0.1:{self.ports['window']}",
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            **QUICK,
        }
        os.environ.update(self.vars)
        logging.getLogger("mail.log").setLevel(logging.WARNING)  # the sink's every command
        from deploy.bootstrap import ensure_keys, load_org, seed_review
        from shared.migrations import upgrade

        with contextlib.redirect_stdout(io.StringIO()):
            ensure_keys()
            for service in SERVICES:
                upgrade(service, self.vars[f"CB_{service.upper()}_DATABASE_URL"])
            load_org()
            seed_review()

    def procfile(self) -> dict[str, list[str]]:
        """The Procfile's processes, with this run's ports in place of the fixed ones."""
        web = {f"127.0.0.1:{8001 + i}": f"127.0.0.1:{self.ports[s]}" for i, s in enumerate(WEB)}
        commands = {}
        for line in (ROOT / "Procfile").read_text().splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            name, command = line.split(":", 1)
            for fixed, ours in web.items():
                command = command.replace(fixed, ours)
            command = command.replace("--port=5555", f"--port={self.ports['flower']}")
            command = command.replace("127.0.0.1:9800", f"127.0.0.1:{self.ports['metrics']}")
            commands[name.strip()] = ["bash", "-c", f"exec {command.strip()}"]
        return commands

    def start(self) -> None:
        self.commands = self.procfile()
        for name, argv in self.commands.items():
            self.procs.start(name, argv)
        for service in WEB:
            wait_healthy(self.ports[service], service, self.procs, timeout=120)
        from celery import Celery

        pinger = Celery("chaos_ping", broker=self.direct_redis_url)
        host = socket.gethostname()
        nodes = [
            m.group(1).replace("%h", host)
            for argv in self.commands.values()
            if (m := re.search(r" -n (\S+)", argv[-1]))
        ]
        wait_workers(pinger, nodes, self.procs, timeout=180)

    # --- what the injector does to it -------------------------------------------------------

    def killable(self) -> list[str]:
        return sorted(n for n in self.commands if "worker" in n or "relay" in n or n == "beat")

    def kill_and_restart(self, name: str) -> None:
        with self.lock:
            proc = self.procs.procs[name]
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            time.sleep(0.5)
            self.procs.start(name, self.commands[name])

    def restart_redis_empty(self) -> None:
        self.redis.restart_empty()

    def stop_postgres(self) -> None:
        self.postgres.stop("fast")

    def start_postgres(self) -> None:
        self.postgres.start()

    def watch(self) -> None:
        """A process that exited on its own (nobody killed it) is counted and started again."""
        with self.lock:
            for name, proc in list(self.procs.procs.items()):
                if proc.poll() is not None:
                    self.unexpected_exits[name] += 1
                    self.procs.start(name, self.commands[name])

    def remove(self) -> None:
        """Stop and remove everything, each step tried even when one before it failed."""
        steps = [
            self.procs.stop_all,
            *(p.stop for p in self.proxies.values()),
            self.smtp.stop,
            self.redis.stop,
            self.postgres.remove,
        ]
        for step in steps:
            try:
                step()
            except Exception as exc:  # go on: the next step still frees what it holds
                print(f"teardown: {type(exc).__name__}: {exc}", file=sys.stderr)
        shutil.rmtree(self.root, ignore_errors=True)


# --- settling ---------------------------------------------------------------------------------


def unsettled(world: World) -> dict[str, int]:
    """What still moves: applications in review, imports being read, messages queued or
    unacknowledged, outbox rows unsent, deliveries notify still owes. Empty when settled."""
    left: Counter[str] = Counter()
    try:
        with psycopg.connect(world.dsn("intake"), connect_timeout=5) as conn:
            left["in_review"] = conn.execute(
                "SELECT count(*) FROM applications WHERE status = 'in_review'"
            ).fetchone()[0]
            left["imports_reading"] = conn.execute(
                "SELECT count(*) FROM imports WHERE status IN ('received', 'processing')"
            ).fetchone()[0]
        for service in SERVICES:
            with psycopg.connect(world.dsn(service), connect_timeout=5) as conn:
                left[f"outbox_{service}"] = conn.execute(
                    "SELECT count(*) FROM outbox WHERE sent_at IS NULL"
                ).fetchone()[0]
        with psycopg.connect(world.dsn("notify"), connect_timeout=5) as conn:
            left["deliveries_due"] = conn.execute(
                "SELECT count(*) FROM deliveries WHERE status = 'pending'"
            ).fetchone()[0]
        client = redis.Redis.from_url(world.direct_redis_url)
        try:
            left["queued"] = sum(client.llen(q) for q in chaos_checker.QUEUE_SERVICE)
            left["unacked"] = client.hlen("unacked")
        finally:
            client.close()
    except (psycopg.Error, redis.RedisError) as exc:
        left[f"unreadable: {type(exc).__name__}"] = 1
    return {k: v for k, v in left.items() if v}


def settle(world: World, load: Load, timeout: float) -> tuple[float, dict[str, int]]:
    """Until nothing moves (twice in a row, 5 s apart) or ``timeout``: seconds taken, what
    was left."""
    began, calm = time.monotonic(), 0
    left = unsettled(world)
    while time.monotonic() - began < timeout:
        world.watch()
        left = unsettled(world)
        calm = calm + 1 if not left else 0
        if calm >= 2:
            break
        time.sleep(5)
    load.stop_reviewers()
    return time.monotonic() - began, left


# --- the run ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600, help="seconds of load and faults")
    parser.add_argument("--seed", type=int, default=None, help="the run's random seed")
    parser.add_argument("--rate", type=float, default=2.0, help="window operations per second")
    parser.add_argument("--gap", type=float, default=20, help="seconds of calm between faults")
    parser.add_argument(
        "--postgres-down", type=float, default=30, help="seconds PostgreSQL is down"
    )
    parser.add_argument("--settle", type=float, default=600, help="at most so many seconds")
    parser.add_argument("--keep-logs", type=Path, help="copy the processes' logs here at the end")
    parser.add_argument(
        "--faults", default=",".join(KINDS), help=f"the kinds injected, of {','.join(KINDS)}"
    )
    args = parser.parse_args(argv)
    args.faults = tuple(k for k in args.faults.split(",") if k)
    unknown = set(args.faults) - set(KINDS)
    if unknown:
        parser.error(f"unknown fault kinds: {', '.join(sorted(unknown))}")
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1 << 30)
    return args


def run(args: argparse.Namespace, world: World) -> int:
    world.create()
    world.start()
    print(
        f"chaos: seed {args.seed}, {args.duration:.0f} s, logs in {world.var_dir / 'logs'}",
        flush=True,
    )
    load = Load(world.ports, world.dsn("intake"), args.rate, args.seed)
    load.prepare()
    injector = Injector(world, args.seed, args.gap, args.postgres_down, args.faults)
    load.start()
    injector.start()
    # At least the duration, and until every kind was injected once (a short run's faults
    # take longer than it), but never more than a first cycle's worst case past it.
    end = time.monotonic() + args.duration
    latest = end + args.postgres_down + len(args.faults) * (args.gap + 20)
    while time.monotonic() < end or (not injector.cycled.is_set() and time.monotonic() < latest):
        world.watch()
        time.sleep(1)
    injector.stop()
    for proxy in world.proxies.values():
        proxy.heal()
    load.stop_operations()
    took, left = settle(world, load, args.settle)
    sources = chaos_checker.Sources(
        dsn={s: world.dsn(s) for s in SERVICES},
        sms_dir=world.root / "sms",
        smtp_ids=world.smtp.message_ids(),
        redis_url=world.direct_redis_url,
        accepted=load.accepted,
        poison=injector.poison,
        poison_digests=injector.poison_digests,
        refused_events=injector.refused_events,
    )
    violations = chaos_checker.check(sources)
    if world.unexpected_exits:
        violations["no_process_exits_by_itself"] = [
            f"{name} exited by itself {n}x" for name, n in sorted(world.unexpected_exits.items())
        ]
    report(args, world, load, injector, took, left, sources, violations)
    never = [k for k in args.faults if not injector.injected[k]]
    total = sum(len(v) for v in violations.values())
    return 1 if total or never else 0


def report(
    args: argparse.Namespace,
    world: World,
    load: Load,
    injector: Injector,
    took: float,
    left: dict[str, int],
    sources: chaos_checker.Sources,
    violations: dict[str, list[str]],
) -> None:
    print("faults:", *injector.log, sep="\n  ")
    for error in injector.errors:
        print(f"fault error: {error}")
    print(f"settled in {took:.0f} s; left: {left or 'nothing'}")
    print(f"applications by status: {chaos_checker.pending_summary(sources)}")
    if load.failed:
        print(f"operations given up (through faults): {dict(load.failed)}")
    for name, found in violations.items():
        print(f"{name}: {len(found)} violation(s)")
        for line in found[:15]:
            print(f"    {line}")
    if any(violations.values()):
        from bench._support import print_log_tails

        print_log_tails(world)  # type: ignore[arg-type]
    for kind in args.faults:
        print(f"faults_injected_{kind}: {injector.injected[kind]}")
    for kind, n in load.counts().items():
        print(f"operations_accepted_{kind}: {n}")
    print(f"violations: {sum(len(v) for v in violations.values())}", flush=True)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    root = Path(tempfile.mkdtemp(prefix="chaos-"))  # handed to the postgres user
    world = World(root)
    status = 1
    try:
        status = run(args, world)
    finally:
        if args.keep_logs:
            shutil.copytree(world.var_dir / "logs", args.keep_logs, dirs_exist_ok=True)
        world.remove()
    sys.exit(status)


if __name__ == "__main__":
    main()
