"""What the benchmarks share: a throwaway world of their own (databases, Redis DB, keys), the
system's processes started and stopped as process groups, spare ports, percentiles, and the
bare Celery round trip every figure is set beside."""

from __future__ import annotations

import contextlib
import http.client
import importlib
import math
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent  # the repository: processes start there
BIN = Path(sys.executable).parent  # the virtualenv's scripts (celery, gunicorn)
PG = "postgresql://postgres@127.0.0.1:5432"


# --- the world: databases, a Redis DB, a var directory with keys and logs -------------------------


def local_redis(db: int = 0) -> redis.Redis:
    """A client of the machine's Redis, on loopback by address (never a name to resolve)."""
    return redis.Redis(host="127.0.0.1", port=6379, db=db)


def claim_redis_db() -> int:
    """A Redis DB number no test run or other benchmark holds (the tests' lock keys in DB 0,
    which is never handed out)."""
    locks = local_redis()
    for n in range(15, 0, -1):
        if locks.set(f"cbtest:redis-db-lock:{n}", os.getpid(), nx=True, ex=4 * 3600):
            local_redis(n).flushdb()
            return n
    raise SystemExit("no free Redis DB (every cbtest:redis-db-lock:1..15 is held)")


def free_redis_db(db: int) -> None:
    """Empty a DB ``claim_redis_db`` handed out and give its lock back."""
    local_redis(db).flushdb()
    local_redis().delete(f"cbtest:redis-db-lock:{db}")


class Env:
    """A benchmark's own world: databases ``<run>_<name>``, a Redis DB and a var directory
    (keys, logs), where ``<run>`` is ``<prefix>_<pid>_<random>``. ``create`` makes them and
    sets the environment the system reads; ``remove`` takes away whatever part was made, so
    it belongs in a ``finally`` around ``create`` and everything after it."""

    def __init__(
        self, prefix: str, databases: tuple[str, ...], redis_port: int | None = None
    ) -> None:
        self.run = f"{prefix}_{os.getpid()}_{secrets.token_hex(2)}"
        self.databases = databases
        # A redis-server of the bench's own on this loopback port (DB 0; the bench starts
        # and stops it), instead of a DB of the machine's Redis.
        self.redis_port = redis_port
        # Made first, so that every part ``remove`` looks at is valid from the start.
        self.var_dir = Path(tempfile.mkdtemp(prefix=f"{prefix}-"))
        self.redis_db = 0  # none claimed yet (DB 0 holds the locks and is never claimed)
        self.vars: dict[str, str] = {}

    @property
    def redis_url(self) -> str:
        """The claimed Redis DB, as the services' settings take it (after ``create``)."""
        return self.vars["CB_REDIS_URL"]

    def dsn(self, name: str) -> str:
        """Database ``name`` for psycopg."""
        return f"{PG}/{self.run}_{name}"

    def url(self, name: str) -> str:
        """Database ``name`` for SQLAlchemy, as the services' settings take it."""
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/{self.run}_{name}"

    def create(self, extra: dict[str, str] | None = None) -> None:
        """The databases (empty), a Redis DB, keys and a logs directory under the var
        directory. ``vars`` (the services' settings for them, and ``extra``) go into
        ``os.environ`` too: what the bench runs in-process reads what its processes read."""
        with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
            for name in self.databases:
                conn.execute(f'CREATE DATABASE "{self.run}_{name}"')
        if self.redis_port is None:
            self.redis_db = claim_redis_db()
            redis_url = f"redis://127.0.0.1:6379/{self.redis_db}"
        else:
            redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.vars = {
            **{f"CB_{name.upper()}_DATABASE_URL": self.url(name) for name in self.databases},
            "CB_REDIS_URL": redis_url,
            "CB_VAR_DIR": str(self.var_dir),
            "CB_LOG_LEVEL": "WARNING",
            **(extra or {}),
        }
        os.environ.update(self.vars)
        (self.var_dir / "logs").mkdir()
        from deploy.bootstrap import ensure_keys  # reads CB_VAR_DIR, set just above

        ensure_keys()

    def remove(self) -> None:
        """Drop the databases, free the Redis DB, delete the var directory: each of them
        tried even when the one before failed, so that one failure leaves no more behind."""
        try:
            # IF EXISTS: also after a ``create`` that stopped half-way (the names are ours).
            with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
                for name in self.databases:
                    conn.execute(f'DROP DATABASE IF EXISTS "{self.run}_{name}" WITH (FORCE)')
        finally:
            try:
                if self.redis_db:
                    free_redis_db(self.redis_db)
            finally:
                shutil.rmtree(self.var_dir, ignore_errors=True)


# --- the system's processes -----------------------------------------------------------------------


class Processes:
    """The system's processes by name, each in a session (process group) of its own with its
    output in ``<var dir>/logs/<name>.log``: stopping one stops whatever it forked (gunicorn's
    workers, Celery's pool), and Ctrl-C at the bench's terminal reaches none of them, so they
    are stopped in the bench's order, by ``stop_all``. ``path``: directories the processes
    import from besides the repository and the var directory. ``app_names``: each process's
    PostgreSQL connections carry its name as their ``application_name`` (libpq's
    ``PGAPPNAME``), so that ``pg_stat_activity`` tells which process a backend serves."""

    def __init__(self, env: Env, path: tuple[Path, ...] = (), app_names: bool = False) -> None:
        self.env = env
        self.pythonpath = os.pathsep.join(str(d) for d in (ROOT, env.var_dir, *path))
        self.app_names = app_names
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, argv: list[str]) -> None:
        """Run ``argv`` from the repository with the environment's settings; the var directory
        is on the path for the bare round-trip module written there."""
        named = {"PGAPPNAME": name} if self.app_names else {}
        with (self.env.var_dir / "logs" / f"{name}.log").open("ab") as log:
            self.procs[name] = subprocess.Popen(
                argv,
                cwd=ROOT,
                env={**os.environ, **self.env.vars, "PYTHONPATH": self.pythonpath, **named},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def serve(
        self, name: str, app: str, port: int, workers: int, extra: tuple[str, ...] = ()
    ) -> None:
        """gunicorn on loopback with the deployment's settings (deploy/gunicorn.conf.py);
        ``extra``: more gunicorn options, which win over the file's (e.g. an access log
        format with microseconds)."""
        self.start(
            name,
            [
                str(BIN / "gunicorn"),
                "--config",
                "deploy/gunicorn.conf.py",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(workers),
                *extra,
                app,
            ],
        )

    def relay(self, service: str) -> None:
        """The outbox relay of ``service``, named ``relay-<service>``."""
        self.start(f"relay-{service}", [sys.executable, "-m", "shared.relay", "--service", service])

    def celery(
        self,
        name: str,
        app: str,
        queue: str,
        node: str,
        concurrency: int,
        *,
        loglevel: str,
        pool: str = "prefork",
    ) -> None:
        """A Celery worker of ``app`` on one queue, as the Procfile starts them (no prefetch:
        a worker takes a message only when it is free for it)."""
        self.start(
            name,
            [
                str(BIN / "celery"),
                "-A",
                app,
                "worker",
                "-Q",
                queue,
                "-n",
                node,
                "--pool",
                pool,
                "--concurrency",
                str(concurrency),
                "--disable-prefetch",
                "--loglevel",
                loglevel,
            ],
        )

    def check_alive(self) -> None:
        """Raise if any process has exited: a wait for it would only time out."""
        dead = [n for n, p in self.procs.items() if p.poll() is not None]
        if dead:
            raise RuntimeError(f"process(es) exited: {', '.join(dead)}; see their logs")

    def stop(self, names: list[str], timeout: float = 20) -> None:
        """SIGTERM to each group at once (they shut down in parallel), SIGKILL to any still
        there after ``timeout`` seconds in all; the names are forgotten."""
        for name in names:
            proc = self.procs[name]
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for name in names:
            proc = self.procs.pop(name)
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
            # Anything the process group left behind (a worker's pool children).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

    def stop_all(self) -> None:
        """Stop every process still known: the ``finally`` of every benchmark."""
        self.stop(list(self.procs))


def exit_on_sigterm() -> None:
    """SIGTERM ends the bench the way Ctrl-C does, through its ``finally`` blocks: a bench
    killed from outside still stops its processes and removes its world (status 143)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def free_port() -> int:
    """A loopback port nothing listens on now (the kernel's pick), for a server to bind."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(ready: Callable[[], bool], procs: Processes, timeout: float) -> bool:
    """Ask ``ready`` every 0.2 s until it holds (True) or ``timeout`` seconds pass (False).
    Raises at once if one of ``procs`` has exited: it is not going to get ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        procs.check_alive()
        if ready():
            return True
        time.sleep(0.2)
    return False


def healthy(port: int) -> bool:
    """``GET /healthz`` on loopback answers 200; False if nothing answers yet."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", "/healthz")
        response = conn.getresponse()
        response.read()
        return response.status == 200
    except (http.client.HTTPException, OSError):
        return False
    finally:
        conn.close()


def wait_healthy(port: int, name: str, procs: Processes, timeout: float = 60) -> None:
    """Until the server on ``port`` answers ``/healthz`` with 200."""
    if not wait_until(lambda: healthy(port), procs, timeout):
        raise RuntimeError(f"{name} did not answer /healthz within {timeout:.0f} s")


def wait_workers(app: Any, nodes: list[str], procs: Processes, timeout: float = 90) -> None:
    """Until every Celery node named answers a control ping (each ping waits 1 s)."""
    deadline, missing = time.monotonic() + timeout, set(nodes)
    while missing and time.monotonic() < deadline:
        procs.check_alive()
        for reply in app.control.ping(destination=sorted(missing), timeout=1.0) or []:
            missing -= set(reply)
    if missing:
        raise RuntimeError(f"Celery workers not ready: {', '.join(sorted(missing))}")


def print_log_tails(env: Env, warnings: bool = False) -> None:
    """The last error lines (with ``warnings``, warning lines too) of each process's log, on
    stderr: the logs are deleted with the var directory when the bench ends."""
    marks = ("Traceback", "ERROR", "WARNING") if warnings else ("Traceback", "ERROR")
    kind = "error/warning" if warnings else "error"
    for log in sorted((env.var_dir / "logs").glob("*.log")):
        lines = log.read_text(errors="replace").splitlines()
        bad = [x for x in lines if any(mark in x for mark in marks)]
        if bad:
            print(f"--- {log.name}: {len(bad)} {kind} line(s), last ones:", file=sys.stderr)
            for x in bad[-5:]:
                print(f"    {x[:400]}", file=sys.stderr)


# --- the bare Celery round trip -------------------------------------------------------------------


# The bare round trip: a Celery app with nothing of the project's, on the same Redis. The
# benchmark writes this module into its var directory (load_roundtrip) and starts a worker on it.
ROUNDTRIP_MODULE = "bench_roundtrip"
ROUNDTRIP_SOURCE = '''"""A bare Celery app for the round-trip baseline of the benchmarks."""
import os

import redis
from celery import Celery

app = Celery("bench_roundtrip", broker=os.environ["CB_REDIS_URL"])
app.conf.update(
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    task_ignore_result=True,
    task_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
)
_redis = redis.Redis.from_url(os.environ["CB_REDIS_URL"])


@app.task(name="bench.echo")
def echo(key):
    _redis.lpush(key, b"1")
'''
ROUNDTRIP_QUEUE = "bench.roundtrip"


def load_roundtrip(env: Env) -> Any:
    """The bare round trip's Celery app. Its module is written into the var directory, which
    ``Processes.start`` puts on every process's path (for the worker), and imported from there
    (for the client)."""
    (env.var_dir / f"{ROUNDTRIP_MODULE}.py").write_text(ROUNDTRIP_SOURCE)
    sys.path.insert(0, str(env.var_dir))
    return importlib.import_module(ROUNDTRIP_MODULE).app


class RoundTrip:
    """Send ``bench.echo`` to the private queue and wait for the worker's marker."""

    def __init__(self, app: Any, redis_url: str, timeout: int = 60) -> None:
        self.app, self.redis = app, redis.Redis.from_url(redis_url)
        self.key = f"bench:roundtrip:{secrets.token_hex(4)}"
        self.timeout = timeout

    def once(self) -> float:
        """One round trip, in seconds."""
        start = time.perf_counter()
        self.app.send_task("bench.echo", args=[self.key], queue=ROUNDTRIP_QUEUE)
        if self.redis.brpop([self.key], timeout=self.timeout) is None:
            raise RuntimeError(f"bare round trip: no marker within {self.timeout} s")
        return time.perf_counter() - start

    def measure(self, samples: int, warmup: int = 20) -> list[float]:
        """``samples`` round trips one after the other, after ``warmup`` not counted (the
        first ones pay for connections)."""
        for _ in range(warmup):
            self.once()
        return [self.once() for _ in range(samples)]


class Prober(threading.Thread):
    """Bare round trips every ``interval`` seconds while the load goes on."""

    def __init__(self, trip: RoundTrip, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.trip, self.interval = trip, interval
        self.samples: list[float] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        """Probe until ``finish``."""
        while not self.stopping.is_set():
            self.samples.append(self.trip.once())
            self.stopping.wait(self.interval)

    def finish(self) -> list[float]:
        """Stop probing; the round trips measured."""
        self.stopping.set()
        self.join(timeout=self.trip.timeout + 10)
        return self.samples


# --- figures --------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    """Seconds as milliseconds to one decimal; ``-`` for NaN (a percentile of no samples)."""
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.1f}"


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..1) of ``values``; NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcStat:
    """What ``/proc/<pid>/stat`` says of one process: its command name, parent, process group,
    and CPU seconds used (``own``: its own, user and system; ``reaped``: its children's that
    it has waited for)."""

    comm: str
    ppid: int
    pgrp: int
    own: float
    reaped: float

    @property
    def cpu(self) -> float:
        """Its own CPU seconds and its reaped children's."""
        return self.own + self.reaped


def parse_stat(raw: str) -> ProcStat:
    """A ``/proc/<pid>/stat`` line (the command name may hold spaces and parentheses)."""
    comm, rest = raw[raw.index("(") + 1 : raw.rindex(")")], raw[raw.rindex(")") + 2 :].split()
    utime, stime, cutime, cstime = (int(x) / CLOCK_TICKS for x in rest[11:15])
    return ProcStat(comm, int(rest[1]), int(rest[2]), utime + stime, cutime + cstime)


def read_stat(pid: int) -> ProcStat | None:
    """Process ``pid``'s stat now; None if there is no such process (any more)."""
    try:
        return parse_stat(Path(f"/proc/{pid}/stat").read_text())
    except OSError:
        return None


def proc_stats() -> dict[int, ProcStat]:
    """Every process of the machine, by pid, now."""
    stats = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (stat := read_stat(int(entry.name))) is not None:
            stats[int(entry.name)] = stat
    return stats


def cpu_seconds(
    groups: dict[int, str], pids: dict[int, str], stats: dict[int, ProcStat] | None = None
) -> dict[str, float]:
    """CPU seconds used so far by each named process group (with reaped children), each named
    process, and every PostgreSQL and Redis server process of the machine (from ``stats``, by
    default read now)."""
    totals: dict[str, float] = {}
    for pid, stat in (proc_stats() if stats is None else stats).items():
        name = pids.get(pid) or groups.get(stat.pgrp)
        if name is None and stat.comm.startswith(("postgres", "redis-server")):
            name = (
                "postgres (whole server)"
                if stat.comm.startswith("postgres")
                else "redis (whole server)"
            )
        if name is not None:
            totals[name] = totals.get(name, 0.0) + stat.cpu
    return totals


def idle_round_trips(
    app: Any, redis_url: str, groups: dict[int, str], worker: str, samples: int, warmup: int = 20
) -> tuple[list[float], float]:
    """The bare round trip on the idle system, and the CPU seconds the process group named
    ``worker`` in ``groups`` (main process and pool) spent on each of them, the warm-up
    included: the same-run baseline a benchmark's CPU per task is set against."""
    before = cpu_seconds(groups, {}).get(worker, 0.0)
    times = RoundTrip(app, redis_url).measure(samples, warmup)
    after = cpu_seconds(groups, {}).get(worker, 0.0)
    return times, (after - before) / (samples + warmup)


# --- PostgreSQL's CPU for some databases only -----------------------------------------------------


class CpuLedger:
    """CPU seconds of processes sampled by pid, summed by label. The first sample is the start:
    a process there counts from the CPU it had then, one first seen later from zero (it was
    born after the start), each until its last sample, so a process that exits between two
    samples loses what it used after the last one it was in. A pid whose CPU went down is
    another process's now: the first one's CPU is kept, the second counts from zero."""

    def __init__(self) -> None:
        self.base: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.labels: dict[int, str] = {}
        self.kept: dict[str, float] = {}
        self.at_start: set[int] = set()
        self.present: set[int] = set()
        self.samples = 0

    def observe(self, sample: dict[int, tuple[str, float]]) -> None:
        """One sample: pid -> (label, CPU seconds used so far)."""
        for pid, (label, cpu) in sample.items():
            if pid in self.last and cpu < self.last[pid]:
                self.kept[self.labels[pid]] = self.kept.get(self.labels[pid], 0.0) + (
                    self.last[pid] - self.base.pop(pid)
                )
            if pid not in self.base:
                self.base[pid] = cpu if self.samples == 0 else 0.0
                if self.samples == 0:
                    self.at_start.add(pid)
            self.last[pid], self.labels[pid] = cpu, label
        self.present = set(sample)
        self.samples += 1

    def used(self) -> dict[str, float]:
        """CPU seconds by label, from the first sample to the last."""
        totals = dict(self.kept)
        for pid, base in self.base.items():
            label = self.labels[pid]
            totals[label] = totals.get(label, 0.0) + self.last[pid] - base
        return totals

    def exited(self) -> int:
        """Processes seen that were not in the last sample."""
        return len(set(self.base) - self.present)


# Server processes serving no database (pg_stat_activity's backend_type), shared by every
# database of the server: their work follows the WAL and the buffers all of them write.
PG_SHARED = "postgres background (whole server, shared)"


class PgCpu(threading.Thread):
    """The CPU of the PostgreSQL server's processes that serve ``databases``, sampled every
    ``interval`` seconds from ``pg_stat_activity`` (pid, datname, application_name,
    backend_type) and ``/proc`` (their own CPU) from ``begin`` to ``finish``. ``label`` names
    a backend of those databases by its application name and backend type; the server's
    background processes and the postmaster (their own CPU, not the exited backends' it
    reaped) are ``PG_SHARED``; other databases' backends are not looked at. Backends that
    exited mid-run count until their last sample; one born and gone between two samples is
    missed: ``sessions_opened`` (pg_stat_database, about: a backend reports its connection
    with its next statistics, within a second or two) against ``born`` tells how many."""

    def __init__(
        self, databases: list[str], label: Callable[[str, str], str], interval: float = 0.5
    ) -> None:
        super().__init__(daemon=True)
        self.databases, self.label, self.interval = databases, label, interval
        self.ledger = CpuLedger()
        self.stopping = threading.Event()
        self.conn = psycopg.connect(
            f"{PG}/postgres", autocommit=True, application_name="bench-pg-cpu"
        )
        self.sessions_opened = 0

    def _sessions(self) -> int:
        row = self.conn.execute(
            "SELECT coalesce(sum(sessions), 0) FROM pg_stat_database WHERE datname = ANY(%s)",
            (self.databases,),
        ).fetchone()
        return int(row[0]) if row else 0

    def sample(self) -> None:
        rows = self.conn.execute(
            "SELECT pid, datname, coalesce(application_name, ''), coalesce(backend_type, '')"
            " FROM pg_stat_activity WHERE datname = ANY(%s) OR datname IS NULL",
            (self.databases,),
        ).fetchall()
        sample: dict[int, tuple[str, float]] = {}
        for pid, datname, app, kind in rows:
            stat = read_stat(pid)
            if stat is None:
                continue
            if datname is not None:
                sample[pid] = (self.label(app, kind), stat.own)
            elif kind != "client backend":  # (one still starting has no database yet)
                sample[pid] = (PG_SHARED, stat.own)
                postmaster = read_stat(stat.ppid)
                if postmaster is not None and postmaster.comm.startswith("postgres"):
                    sample[stat.ppid] = (PG_SHARED, postmaster.own)
        self.ledger.observe(sample)

    def begin(self) -> None:
        """The first sample, then one every ``interval`` seconds until ``finish``."""
        self.sessions_opened = -self._sessions()
        self.sample()
        self.start()

    def run(self) -> None:
        while not self.stopping.wait(self.interval):
            self.sample()

    def finish(self) -> dict[str, float]:
        """The last sample; CPU seconds by label since ``begin``."""
        self.stopping.set()
        self.join(timeout=30)
        self.sample()
        self.sessions_opened += self._sessions()
        self.conn.close()
        return self.ledger.used()

    def coverage(self) -> tuple[int, int, int, int]:
        """Backends of the databases seen: in all, there at the first sample, first seen
        later, not there at the last."""
        ours = {pid for pid, label in self.ledger.labels.items() if label != PG_SHARED}
        at_start = ours & self.ledger.at_start
        return len(ours), len(at_start), len(ours - at_start), len(ours - self.ledger.present)
