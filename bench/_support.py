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

    def __init__(self, prefix: str, databases: tuple[str, ...]) -> None:
        self.run = f"{prefix}_{os.getpid()}_{secrets.token_hex(2)}"
        self.databases = databases
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
        self.redis_db = claim_redis_db()
        self.vars = {
            **{f"CB_{name.upper()}_DATABASE_URL": self.url(name) for name in self.databases},
            "CB_REDIS_URL": f"redis://127.0.0.1:6379/{self.redis_db}",
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
    import from besides the repository and the var directory."""

    def __init__(self, env: Env, path: tuple[Path, ...] = ()) -> None:
        self.env = env
        self.pythonpath = os.pathsep.join(str(d) for d in (ROOT, env.var_dir, *path))
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, argv: list[str]) -> None:
        """Run ``argv`` from the repository with the environment's settings; the var directory
        is on the path for the bare round-trip module written there."""
        with (self.env.var_dir / "logs" / f"{name}.log").open("ab") as log:
            self.procs[name] = subprocess.Popen(
                argv,
                cwd=ROOT,
                env={**os.environ, **self.env.vars, "PYTHONPATH": self.pythonpath},
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
        self, name: str, app: str, queue: str, node: str, concurrency: int, *, loglevel: str
    ) -> None:
        """A Celery worker of ``app`` on one queue, as the Procfile starts them."""
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
                "--concurrency",
                str(concurrency),
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


def cpu_seconds(groups: dict[int, str], pids: dict[int, str]) -> dict[str, float]:
    """CPU seconds used so far by each named process group (with reaped children), each named
    process, and every PostgreSQL and Redis server process of the machine."""
    totals: dict[str, float] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        comm, rest = raw[raw.index("(") + 1 : raw.rindex(")")], raw[raw.rindex(")") + 2 :].split()
        name = pids.get(int(entry.name)) or groups.get(int(rest[2]))
        if name is None and comm.startswith(("postgres", "redis-server")):
            name = (
                "postgres (whole server)" if comm.startswith("postgres") else "redis (whole server)"
            )
        if name is not None:
            ticks = sum(int(x) for x in rest[11:15])  # utime, stime, cutime, cstime
            totals[name] = totals.get(name, 0.0) + ticks / CLOCK_TICKS
    return totals
