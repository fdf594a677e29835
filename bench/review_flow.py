"""Deposits through tiered review over HTTP, level by level, next to a bare Celery round trip.

    .venv/bin/python bench/review_flow.py [--count 5000] [--workers-per-level 1,2] [--rate 0]
        [--runs 1]

Runs the system as ``make run`` does (Procfile), each part its own process: gunicorn for org,
intake and review (deploy/gunicorn.conf.py, sync workers), the intake and review outbox
relays, the intake worker, Celery workers on every review level queue and the notify worker
(every final approval tells the learner, through notify). Redis is a ``redis-server`` of the
bench's own on a spare loopback port (no persistence, as the machine's), so that its CPU is
this bench's alone. It brings an acceptance point under sub-centre S001 to OPERATING over
org's API, signs in its window staff, a reviewer at the point and one at S001, opens
learning accounts (each opening is approved at the point through review) and uploads one
piece of evidence.

Then, once for each figure of ``--workers-per-level`` (that many separate ``celery worker
--concurrency 1`` processes on each level queue), it submits ``--count`` social-training
deposits over HTTP from ``--clients`` window processes (unpaced unless ``--rate``), while
two scripted reviewers, one process each, watch their inbox (GET /api/v1/inbox) and approve
every case (POST /api/v1/cases/<id>/decision) from ``--approvers`` threads: at the point,
which passes it up, and at S001, which approves it finally. The reviewers' inbox reads go
to a second review gunicorn of the bench's own (the same app and database, its own port and
process group, ``--inbox-web-workers`` sync workers): their polling is the benchmark's
instrument, not the system's work, and its CPU (and its PostgreSQL backends') is counted
apart. The decisions go to the system's review web. A case is visible to any review web once
its worker has committed it, so the inbox-visible hop is the same through either. It prints:

* submit -> case visible in the point's inbox: from the 201 of POST /api/v1/applications to
  the inbox answer that first lists the case; p50/p99;
* decision -> case visible in S001's inbox: from the 200 of the point's decision; p50/p99;
* for both, the part until the level's worker opened the case (review's ``opened_at``, set
  before the insert) and until it had committed it (the worker's "case opened" log line,
  written just after the commit, to the millisecond): no inbox polling in either;
* the drain time: from the first submit until intake applied the last final approval (its
  ``final_at``), with each number of workers per level;
* a bare Celery round trip on the same Redis (a task sent to a private queue, a one-process
  worker LPUSHes a marker, the client BRPOPs it): on the idle system before the runs, and
  every 100 ms during each run; each hop's p99 against both (the issue expects 10x at most);
  with the idle one, the bare worker's CPU per task (its process group's CPU over the idle
  round trips), the baseline of the CPU per application;
* CPU seconds per component during each run (from the first submit until intake and notify
  are drained), read from /proc. PostgreSQL: only the backends of this bench's databases,
  found in ``pg_stat_activity`` (sampled every 0.5 s: a backend there at the start counts
  from what it had then, one born later from zero, each until its last sample) and named by
  the process they serve (each process's ``application_name``); the server's background
  processes (checkpointer, WAL and background writers, autovacuum launcher, ...) are shared
  with every other database of the server and shown apart, not counted, and so is the whole
  server for comparison. The system's total leaves out the benchmark's own processes (the
  window clients, the reviewers, their inbox polling, the round-trip prober, its own
  queries);
* checks that no application was lost or duplicated: one case per application at each
  level and no other, every application approved, one ledger entry and one timeline event of
  each kind per application, one notify event per application, nothing left unsent in an
  outbox;
* the headline figures, ``name: value`` one a line, last (with ``--runs K``, each run's
  with a ``_run<k>`` suffix, then the medians).

The inbox pages hold 100 cases at most, oldest first. A reviewer asks for one case
(``per_page=1``) in a loop with ``--poll-ms`` pauses, to learn how many are open, and reads
pages from the newest backwards only when that count shows cases it has not seen. An inbox
latency therefore includes up to one poll period; the mean period is printed. Uses its own
databases, Redis server and key directory, all removed at the end, also on failure or
Ctrl-C. Beat, the org worker and relay, notify's web and Flower are not started: the flow
does not use them (notify's deliveries due again, which beat would send every 15 s, are
asked for by the bench as often while it waits for notify).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import json
import math
import multiprocessing as mp
import os
import queue
import secrets
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from bench._support import (  # noqa: E402
    PG_SHARED,
    ROUNDTRIP_MODULE,
    ROUNDTRIP_QUEUE,
    Env,
    PgCpu,
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
    wait_healthy,
    wait_workers,
)
from bench.chaos_servers import OwnRedis  # noqa: E402

SERVICES = ("org", "intake", "review", "notify")
LEVEL_QUEUES = ("review.acceptance_point", "review.subcentre", "review.branch", "review.province")
SUBCENTRE = "S001"
PASSWORD = "bench-pass-123"  # noqa: S105 - the bench's own throwaway accounts
ADMIN = "bench-admin"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PAGE = 100  # the inbox's largest page (shared.paging.MAX_PER_PAGE)
# A decision committed but not yet answered can hide a new case from the count for a moment;
# the newest few cases are read now and then regardless.
TAIL_CHECK_SECONDS, TAIL = 0.5, 20
LOGLEVEL = "INFO"  # the Celery workers' --loglevel
NOTIFY_DISPATCH_SECONDS = 15.0  # beat's notify-dispatch schedule (shared/beat.py)
NOTIFY_EVENTS = ("review.application_decided", "intake.application_decided")
BENCH_APP = "bench"  # the application_name of the bench's own PostgreSQL connections

# CPU table lines: the system's components by process name; the benchmark's own (not in
# the system's total) start with "bench"; APART lines are shown, not counted.
COMPONENTS = {
    "org": "org web (idle)",
    "intake": "intake web",
    "review": "review web",
    "relay-intake": "intake relay",
    "relay-review": "review relay",
    "worker-intake": "intake worker",
    "worker-notify": "notify worker",
    "review-inbox": "bench: inbox polling (review web)",
    "roundtrip": "bench: bare round-trip worker (prober)",
}
REDIS = "redis (this bench's own server)"
PG_OURS = "postgres for "  # + the component a backend serves (by its application_name)
PG_WHOLE = "postgres (whole server)"  # cpu_seconds' name: every user's, for comparison
APART = (PG_SHARED, PG_WHOLE)

# --- small helpers ----------------------------------------------------------------------


def scalar(conn: psycopg.Connection[Any], sql: str, *params: Any) -> int:
    row = conn.execute(sql, params or None).fetchone()
    return int(row[0]) if row else 0


def own_cpu() -> float:
    times = os.times()
    return times.user + times.system


class Http:
    """One client of one service: JSON in and out, a new connection whenever the server
    closes one (gunicorn's sync workers close every connection)."""

    def __init__(self, port: int, headers: dict[str, str] | None = None) -> None:
        self.port, self.headers = port, dict(headers or {})
        self.conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        retries: int = 3,
    ) -> tuple[int, Any]:
        data = raw
        if data is None and body is not None:
            data = json.dumps(body, ensure_ascii=False).encode()
        sent = {**self.headers, **(headers or {})}
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
            sent["Content-Length"] = str(len(data))
        for attempt in range(retries):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                self.conn.request(method, path, body=data, headers=sent)
                response = self.conn.getresponse()
                payload = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.close()
                return response.status, json.loads(payload) if payload else None
            except (http.client.HTTPException, OSError):
                self.close()
                if attempt == retries - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    def expect(self, status: int, method: str, path: str, **kw: Any) -> Any:
        got, answer = self.call(method, path, **kw)
        if got != status:
            raise RuntimeError(f"{method} {path}: HTTP {got} (wanted {status}): {answer}")
        return answer


# --- the environment: databases, Redis DB, keys, processes --------------------------------


def setup(env: Env) -> None:
    """Databases, a Redis DB, keys, migrations, the org tree, the first admin, the routes."""
    from deploy.bootstrap import load_org, seed_review
    from shared.migrations import upgrade

    with contextlib.redirect_stdout(io.StringIO()):  # the bootstrap's progress lines
        env.create(
            {
                # Sign-in is not measured: cheap password hashes, and tokens that outlive the run.
                "CB_PASSWORD_TIME_COST": "1",
                "CB_PASSWORD_MEMORY_COST": "8192",
                "CB_ACCESS_TOKEN_TTL": str(12 * 3600),
                "CB_ADMIN_USERNAME": ADMIN,
                "CB_ADMIN_PASSWORD": PASSWORD,
            }
        )
        for service in SERVICES:
            upgrade(service, env.url(service))
        load_org()  # the org tree and the first admin, as make run's bootstrap does
        seed_review()  # the default route table


def component(process: str) -> str:
    """The CPU table's line for one of the processes started (by its name)."""
    return COMPONENTS.get(
        process, "review level workers" if process.startswith("worker-review.") else process
    )


def component_groups(procs: Processes) -> dict[int, str]:
    """Process group -> the component it runs, for CPU accounting."""
    return {p.pid: component(n) for n, p in procs.procs.items()}


def pg_label(application_name: str, backend_type: str) -> str:
    """The CPU table's line for a PostgreSQL backend of this bench's databases: the process
    it serves (each process's connections carry its name: ``Processes(app_names=True)``)."""
    if application_name == BENCH_APP:
        return "bench: its own queries (postgres backends)"
    if application_name == "review-inbox":
        return "bench: inbox polling (postgres backends)"
    if application_name:
        return PG_OURS + component(application_name)
    return PG_OURS + (backend_type if backend_type != "client backend" else "unnamed clients")


def start_level_workers(procs: Processes, app: Any, per_level: int, pool: str) -> None:
    """``per_level`` separate worker processes (``--concurrency 1``) on each level queue."""
    nodes = []
    for q in LEVEL_QUEUES:
        for k in range(1, per_level + 1):
            nodes.append(f"{q}.{k}@bench")
            procs.celery(
                f"worker-{q}-{k}",
                "services.review.worker",
                q,
                nodes[-1],
                1,
                loglevel=LOGLEVEL,
                pool=pool,
            )
    wait_workers(app, nodes, procs)


def stop_level_workers(procs: Processes) -> None:
    procs.stop([n for n in procs.procs if n.startswith("worker-review.")])


# --- org: a point brought to OPERATING, staff signed in -----------------------------------


@dataclass
class Staff:
    window: dict[str, str]
    point_reviewer: dict[str, str]
    subcentre_reviewer: dict[str, str]
    point: str


def login(org: Http, username: str) -> dict[str, str]:
    answer = org.expect(
        200, "POST", "/api/v1/auth/token", body={"username": username, "password": PASSWORD}
    )
    return {"Authorization": f"Bearer {answer['access_token']}"}


def create_staff(org: Http, by: dict[str, str], username: str, unit: str, role: str) -> None:
    org.expect(
        201,
        "POST",
        "/api/v1/staff",
        headers=by,
        body={
            "username": username,
            "display_name": username,
            "unit_code": unit,
            "roles": [role],
            "password": PASSWORD,
        },
    )


def prepare_org(org: Http) -> Staff:
    """Over org's API, as a province admin, a bureau, a manager and the point's admin would."""
    admin = login(org, ADMIN)
    for username, role in (
        ("bench-bureau", "bureau"),
        ("bench-s001-manager", "management"),
        ("bench-s001-reviewer", "reviewer"),
    ):
        create_staff(org, admin, username, SUBCENTRE, role)
    point = org.expect(
        201,
        "POST",
        "/api/v1/acceptance-points",
        headers=login(org, "bench-bureau"),
        body={
            "name": "基准测试社区学校",
            "parent_code": SUBCENTRE,
            "point_kind": "community_school",
            "point_tier": "township",
        },
    )["code"]
    point_admin = f"{point.lower()}-admin"
    allocation = org.expect(
        201,
        "POST",
        f"/api/v1/acceptance-points/{point}/allocation",
        headers=login(org, "bench-s001-manager"),
        body={"admin_username": point_admin, "admin_display_name": "管理员"},
    )
    org.expect(
        200,
        "POST",
        "/api/v1/activation",
        body={
            "username": point_admin,
            "activation_code": allocation["activation_code"],
            "password": PASSWORD,
        },
    )
    padmin = login(org, point_admin)
    for role in ("management", "technical", "service", "reviewer"):
        create_staff(org, padmin, f"{point.lower()}-{role}", point, role)
    org.expect(
        200,
        "PUT",
        f"/api/v1/acceptance-points/{point}/window",
        headers=padmin,
        body={"address": "杭州市上城区解放路1号", "opening_hours": "周一至周五 9:00-17:00"},
    )
    org.expect(200, "POST", f"/api/v1/acceptance-points/{point}/start", headers=padmin)
    return Staff(
        window=login(org, f"{point.lower()}-service"),  # OPERATING in the token now
        point_reviewer=login(org, f"{point.lower()}-reviewer"),
        subcentre_reviewer=login(org, "bench-s001-reviewer"),
        point=point,
    )


def resident_id(seq: int) -> str:
    from shared.identity import check_character

    first17 = f"33010219900307{seq:03d}"
    return first17 + check_character(first17)


def open_accounts(intake: Http, review: Http, staff: Staff, count: int) -> list[str]:
    """Learning accounts opened at the window and approved at the point through review."""
    openings = [
        intake.expect(
            201,
            "POST",
            "/api/v1/accounts",
            headers=staff.window,
            body={
                "document_type": "resident_id",
                "document_number": resident_id(i),
                "name": "测试学员",
                "phone": f"139{i:08d}",
                "verification_method": "card_reader",
            },
        )["id"]
        for i in range(count)
    ]
    pending, deadline = set(openings), time.monotonic() + 120
    while pending and time.monotonic() < deadline:
        inbox = review.expect(
            200,
            "GET",
            f"/api/v1/inbox?kind=account_opening&per_page={PAGE}",
            headers=staff.point_reviewer,
        )
        for case in inbox["items"]:
            if case["application_id"] in pending:
                review.expect(
                    200,
                    "POST",
                    f"/api/v1/cases/{case['id']}/decision",
                    headers=staff.point_reviewer,
                    body={"decision": "approve"},
                )
                pending.discard(case["application_id"])
        time.sleep(0.1)
    if pending:
        raise RuntimeError(f"{len(pending)} account opening(s) never reached the point's inbox")
    accounts: list[str] = []
    for opening in openings:
        deadline = time.monotonic() + 60
        while True:
            number = intake.expect(
                200, "GET", f"/api/v1/applications/{opening}", headers=staff.window
            )["account_number"]
            if number:
                accounts.append(number)
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"account opening {opening} approved but no account number")
            time.sleep(0.1)
    return accounts


def upload_evidence(intake: Http, window: dict[str, str]) -> str:
    boundary = f"bench{secrets.token_hex(8)}"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="cert.pdf"\r\nContent-Type: application/pdf\r\n\r\n'
        ).encode()
        + PDF
        + f"\r\n--{boundary}--\r\n".encode()
    )
    status, answer = intake.call(
        "POST",
        "/api/v1/attachments",
        raw=body,
        headers={**window, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    if status not in (200, 201):
        raise RuntimeError(f"evidence upload: HTTP {status}: {answer}")
    return str(answer["sha256"])


def committed_at(logs: Path, applications: set[str]) -> dict[tuple[str, str], float]:
    """(application id, level) -> when its case was committed (wall clock), from the level
    workers' "case opened" log lines (logged just after the commit, to the millisecond)."""
    found: dict[tuple[str, str], float] = {}
    for level in ("acceptance_point", "subcentre"):
        for log in logs.glob(f"worker-review.{level}-*.log"):
            for line in log.read_text(errors="replace").splitlines():
                if '"case opened"' not in line:
                    continue
                record = json.loads(line)
                if record.get("application_id") in applications:
                    at = datetime.fromisoformat(record["ts"]).timestamp()
                    found[record["application_id"], level] = at
    return found


# --- the window: clients submitting deposits -----------------------------------------------


def deposit_body(account: str, sha: str, i: int) -> dict[str, Any]:
    return {
        "account_number": account,
        "outcome_kind": "social_training",
        "outcome": {
            "organiser": "杭州市职业技能培训中心",
            "programme": "电工初级培训",
            "hours": "48",
            "start_date": "2026-03-01",
            "end_date": "2026-03-20",
            "certificate_number": f"BR{i:010d}",
        },
        "attachments": [sha],
    }


def submitter_main(cfg: dict[str, Any], ready: Any, go: Any, results: Any) -> None:
    """One window client: POST its share of deposits, paced if a rate is given."""
    intake = Http(cfg["port"], cfg["headers"])
    accounts, sha, interval = cfg["accounts"], cfg["sha"], cfg["interval"]
    ready.put(cfg["client"])
    go.wait()
    start, done = time.monotonic(), []
    for k, i in enumerate(cfg["indexes"]):
        if interval:
            delay = start + k * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        began = time.monotonic()
        status, answer = intake.call(
            "POST",
            "/api/v1/applications",
            body=deposit_body(accounts[i % len(accounts)], sha, i),
            # A retry after a lost connection is answered from the key, never taken twice.
            headers={"Idempotency-Key": f"bench-deposit-{i}"},
            retries=5,
        )
        if status != 201:
            results.put(("error", f"POST /api/v1/applications: HTTP {status}: {answer}"))
            return
        done.append((answer["id"], began, time.monotonic()))
    results.put(("ok", done, own_cpu()))


# --- the scripted reviewers -----------------------------------------------------------------


class Reviewer:
    """Watches one inbox and approves every deposit case it finds, from a few threads."""

    def __init__(self, cfg: dict[str, Any], stop: Any) -> None:
        self.cfg, self.stop = cfg, stop
        self.expected: int = cfg["expected"]
        self.lock = threading.Lock()
        self.seen: set[str] = set()
        self.open_known: set[str] = set()  # seen, and not (yet) decided by us
        self.first_seen: dict[str, float] = {}  # application id -> time
        self.decided: dict[str, float] = {}  # application id -> time of the 200
        self.errors: list[str] = []
        self.finished = threading.Event()
        self.todo: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self.probes = self.pages = self.backlog = 0
        self.decision_seconds: list[float] = []

    def http(self, port: str = "port") -> Http:
        """A client of the system's review web (decisions), or with ``inbox_port`` of the
        bench's own review web (the inbox polling, counted apart)."""
        return Http(self.cfg[port], self.cfg["headers"])

    def run(self) -> dict[str, Any]:
        threads = [
            threading.Thread(target=self.approve, daemon=True) for _ in range(self.cfg["approvers"])
        ]
        for t in threads:
            t.start()
        started = time.monotonic()
        try:
            self.watch()
        finally:
            for _ in threads:
                self.todo.put(None)
            for t in threads:
                t.join(timeout=60)
        return {
            "first_seen": self.first_seen,
            "decided": self.decided,
            "errors": self.errors,
            "probes": self.probes,
            "pages": self.pages,
            "backlog": self.backlog,
            "decision_seconds": self.decision_seconds,
            "elapsed": time.monotonic() - started,
            "cpu": own_cpu(),
        }

    def note(self, items: list[dict[str, Any]], at: float) -> int:
        new = 0
        with self.lock:
            for case in items:
                if case["id"] in self.seen:
                    continue
                self.seen.add(case["id"])
                self.open_known.add(case["id"])
                self.first_seen[case["application_id"]] = at
                self.todo.put((case["id"], case["application_id"]))
                new += 1
        return new

    def inbox(self, client: Http, page: int, per_page: int) -> dict[str, Any]:
        answer = client.expect(
            200, "GET", f"/api/v1/inbox?kind=deposit&page={page}&per_page={per_page}"
        )
        return dict(answer)

    def watch(self) -> None:
        client, poll = self.http("inbox_port"), self.cfg["poll_s"]
        last_tail = 0.0
        while not (self.finished.is_set() or self.stop.is_set()):
            answer = self.inbox(client, 1, 1)
            now = time.monotonic()
            self.probes += 1
            self.note(answer["items"], now)
            total = answer["total"]
            self.backlog = max(self.backlog, total)
            with self.lock:
                unseen = total - len(self.open_known)
            if unseen > 0:
                self.scan(client, total, unseen, PAGE)
            elif total and now - last_tail > TAIL_CHECK_SECONDS:
                self.scan(client, total, 0, TAIL)
                last_tail = now
            if poll:
                time.sleep(poll)

    def scan(self, client: Http, total: int, unseen: int, per_page: int) -> None:
        """Pages of the inbox from the newest backwards until ``unseen`` new cases are found
        (at least the newest page is read)."""
        found = 0
        for page in range(max(1, math.ceil(total / per_page)), 0, -1):
            items = self.inbox(client, page, per_page)["items"]
            self.pages += 1
            found += self.note(items, time.monotonic())
            if items and found >= unseen:
                return

    def approve(self) -> None:
        client = self.http()
        while (item := self.todo.get()) is not None:
            case_id, application_id = item
            began = time.monotonic()
            status, answer = client.call(
                "POST",
                f"/api/v1/cases/{case_id}/decision",
                body={"decision": "approve"},
                retries=3,
            )
            now = time.monotonic()
            with self.lock:
                if status == 200:
                    self.decided[application_id] = now
                    self.decision_seconds.append(now - began)
                    self.open_known.discard(case_id)
                else:
                    self.errors.append(f"case {case_id}: HTTP {status}: {answer}")
                if len(self.decided) + len(self.errors) >= self.expected:
                    self.finished.set()


def reviewer_main(cfg: dict[str, Any], ready: Any, stop: Any, results: Any) -> None:
    reviewer = Reviewer(cfg, stop)
    reviewer.inbox(reviewer.http("inbox_port"), 1, 1)  # signed in and answering
    ready.put(cfg["name"])
    results.put((cfg["name"], reviewer.run()))


# --- one run ----------------------------------------------------------------------------------


@dataclass
class RunResult:
    workers: int
    count: int
    submit_latency: list[float] = field(default_factory=list)
    to_point: list[float] = field(default_factory=list)
    to_subcentre: list[float] = field(default_factory=list)
    opened_point: list[float] = field(default_factory=list)
    opened_subcentre: list[float] = field(default_factory=list)
    committed_point: list[float] = field(default_factory=list)
    committed_subcentre: list[float] = field(default_factory=list)
    under_load: list[float] = field(default_factory=list)
    submit_seconds: float = math.nan
    drain_seconds: float = math.nan
    drained: bool = False
    poll_ms: dict[str, float] = field(default_factory=dict)
    backlog: dict[str, int] = field(default_factory=dict)
    decision_latency: list[float] = field(default_factory=list)
    checks: list[tuple[str, bool, str]] = field(default_factory=list)
    lost: int = 0
    duplicated: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    # What the PostgreSQL figures cover: backends of this bench's databases seen (there at
    # the start, born later, exited before the end), and sessions opened (pg_stat_database).
    pg_seen: int = 0
    pg_at_start: int = 0
    pg_born: int = 0
    pg_exited: int = 0
    pg_sessions_opened: int = 0
    cpu_seconds: float = math.nan  # the CPU window: first submit until intake, notify drained
    errors: list[str] = field(default_factory=list)

    def system_cpu(self) -> float:
        """CPU seconds of the system's processes: the benchmark's own and APART left out."""
        return sum(v for k, v in self.cpu.items() if not k.startswith("bench") and k not in APART)


@dataclass
class Bench:
    env: Env
    procs: Processes
    ports: dict[str, int]
    staff: Staff
    accounts: list[str]
    sha: str
    args: argparse.Namespace
    roundtrip_app: Any
    redis_pid: int
    all_ids: list[str] = field(default_factory=list)
    next_index: int = 0

    def run(self, per_level: int) -> RunResult:
        args, count = self.args, self.args.count
        result = RunResult(per_level, count)
        indexes = list(range(self.next_index, self.next_index + count))
        self.next_index += count
        ctx = mp.get_context("spawn")
        ready, results, stop, go = ctx.Queue(), ctx.Queue(), ctx.Event(), ctx.Event()
        reviewers = [
            ctx.Process(
                target=reviewer_main,
                args=(
                    {
                        "name": name,
                        "port": self.ports["review"],
                        "inbox_port": self.ports["review-inbox"],
                        "headers": headers,
                        "expected": count,
                        "approvers": args.approvers,
                        "poll_s": args.poll_ms / 1000,
                    },
                    ready,
                    stop,
                    results,
                ),
                daemon=True,
            )
            for name, headers in (
                ("point", self.staff.point_reviewer),
                ("subcentre", self.staff.subcentre_reviewer),
            )
        ]
        per_client_rate = args.rate / args.clients if args.rate else 0
        clients = [
            ctx.Process(
                target=submitter_main,
                args=(
                    {
                        "client": c,
                        "port": self.ports["intake"],
                        "headers": self.staff.window,
                        "accounts": self.accounts,
                        "sha": self.sha,
                        "indexes": indexes[c :: args.clients],
                        "interval": 1 / per_client_rate if per_client_rate else 0,
                    },
                    ready,
                    go,
                    results,
                ),
                daemon=True,
            )
            for c in range(args.clients)
        ]
        children = reviewers + clients
        for p in children:
            p.start()
        try:
            for _ in children:
                ready.get(timeout=120)
            prober = Prober(RoundTrip(self.roundtrip_app, self.env.redis_url))
            prober.start()
            wall_offset = time.time() - time.monotonic()
            groups, pids = component_groups(self.procs), {self.redis_pid: REDIS}
            pg = PgCpu([f"{self.env.run}_{s}" for s in SERVICES], pg_label)
            pg.begin()
            cpu_before, cpu_from = cpu_seconds(groups, pids), time.monotonic()
            go.set()
            submitted, reviewed = self.collect(results, len(clients), stop, result)
            cpu_after = cpu_seconds(groups, pids)
            result.cpu_seconds = time.monotonic() - cpu_from
            for name, seconds in cpu_after.items():
                result.cpu[name] = seconds - cpu_before.get(name, 0.0)
            result.cpu.pop("redis (whole server)", None)  # the machine's: not used here
            result.cpu.update(pg.finish())
            result.pg_seen, result.pg_at_start, result.pg_born, result.pg_exited = pg.coverage()
            result.pg_sessions_opened = pg.sessions_opened
            result.under_load = prober.finish()
        finally:
            stop.set()
            for p in children:
                p.join(timeout=30)
                if p.is_alive():
                    p.terminate()
        self.procs.check_alive()
        self.measure(result, submitted, reviewed, wall_offset)
        self.verify(result, [s[0] for s in submitted])
        return result

    def collect(
        self, results: Any, clients: int, stop: Any, result: RunResult
    ) -> tuple[list[tuple[str, float, float]], dict[str, dict[str, Any]]]:
        """Wait for the clients, then for the drain, then for the reviewers' records."""
        submitted: list[tuple[str, float, float]] = []
        reviewed: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + self.args.timeout
        waiting_clients = clients
        while waiting_clients:
            self.procs.check_alive()
            try:
                item = results.get(timeout=1)
            except queue.Empty:
                if time.monotonic() > deadline:
                    raise RuntimeError("the clients did not finish submitting in time") from None
                continue
            if item[0] == "error":
                raise RuntimeError(item[1])
            if item[0] == "ok":
                submitted.extend(item[1])
                result.cpu["bench: window clients"] = (
                    result.cpu.get("bench: window clients", 0.0) + item[2]
                )
                waiting_clients -= 1
            else:
                reviewed[item[0]] = item[1]
        ids = [s[0] for s in submitted]
        self.all_ids.extend(ids)
        # Drained: intake has applied the final approval of every application of the run
        # (checked twice a second; the drain time itself comes from intake's final_at).
        with self.db("intake", autocommit=True) as conn:
            while True:
                approved = conn.execute(
                    "SELECT count(*) FROM applications WHERE id = ANY(%s::uuid[])"
                    " AND status = 'approved'",
                    (ids,),
                ).fetchone()
                if approved and approved[0] >= len(ids):
                    result.drained = True
                    break
                if time.monotonic() > deadline:
                    result.errors.append(
                        f"not drained within --timeout {self.args.timeout:.0f} s: "
                        f"{approved[0] if approved else 0} of {len(ids)} approved"
                    )
                    break
                self.procs.check_alive()
                time.sleep(0.5)
        if not result.drained:
            stop.set()
        else:
            self.wait_notify(ids, deadline, result)
        while len(reviewed) < 2:
            try:
                item = results.get(timeout=30 if result.drained else 5)
            except queue.Empty:
                result.errors.append("a reviewer did not report")
                break
            reviewed[item[0]] = item[1]
        return submitted, reviewed

    def db(self, name: str, autocommit: bool = False) -> psycopg.Connection[Any]:
        """A connection of the bench's own to database ``name`` (its backend counted apart)."""
        return psycopg.connect(
            self.env.dsn(name), autocommit=autocommit, application_name=BENCH_APP
        )

    def wait_notify(self, ids: list[str], deadline: float, result: RunResult) -> None:
        """Until notify has recorded the event of every application of the run and sent or
        given up each of its deliveries, asking for the deliveries due again as beat would."""
        asked = time.monotonic()
        with self.db("notify", autocommit=True) as conn:
            while True:
                row = conn.execute(
                    "SELECT count(DISTINCT e.id),"
                    " count(d.id) FILTER (WHERE d.status = 'pending')"
                    " FROM events e LEFT JOIN deliveries d ON d.event_id = e.id"
                    " WHERE e.data->>'application_id' = ANY(%s)",
                    (ids,),
                ).fetchone()
                events, pending = (int(row[0]), int(row[1])) if row else (0, 0)
                if events >= len(NOTIFY_EVENTS) * len(ids) and not pending:
                    return
                if time.monotonic() > deadline:
                    result.errors.append(
                        f"notify not drained within --timeout {self.args.timeout:.0f} s: "
                        f"{events} of {len(NOTIFY_EVENTS) * len(ids)} events, "
                        f"{pending} deliveries pending"
                    )
                    return
                if time.monotonic() - asked > NOTIFY_DISPATCH_SECONDS:
                    self.roundtrip_app.send_task("notify.dispatch", queue="notify")
                    asked = time.monotonic()
                self.procs.check_alive()
                time.sleep(0.5)

    def measure(
        self,
        result: RunResult,
        submitted: list[tuple[str, float, float]],
        reviewed: dict[str, dict[str, Any]],
        wall_offset: float,
    ) -> None:
        done = {app: t1 for app, _, t1 in submitted}
        first = min(t0 for _, t0, _ in submitted)
        result.submit_latency = [t1 - t0 for _, t0, t1 in submitted]
        result.submit_seconds = max(done.values()) - first
        point, sub = reviewed.get("point", {}), reviewed.get("subcentre", {})
        for name, record in reviewed.items():
            result.cpu["bench: reviewers"] = result.cpu.get("bench: reviewers", 0.0) + record["cpu"]
            if record["probes"]:
                result.poll_ms[name] = record["elapsed"] / record["probes"] * 1000
            result.backlog[name] = record["backlog"]
            result.decision_latency.extend(record["decision_seconds"])
            result.errors.extend(f"{name} reviewer: {e}" for e in record["errors"][:5])
        seen_point = point.get("first_seen", {})
        result.to_point = [seen_point[a] - done[a] for a in done if a in seen_point]
        decided_point, seen_sub = point.get("decided", {}), sub.get("first_seen", {})
        result.to_subcentre = [
            seen_sub[a] - decided_point[a] for a in done if a in seen_sub and a in decided_point
        ]
        # The same hops without the inbox: until the level's worker opened the case, by the
        # review database's clock (the decision's own decided_at for the second hop).
        with self.db("review") as conn:
            rows = conn.execute(
                "SELECT application_id::text, level::text, opened_at, decided_at FROM cases"
                " WHERE application_id = ANY(%s::uuid[])",
                (list(done),),
            ).fetchall()
        opened = {(a, level): o.timestamp() - wall_offset for a, level, o, _ in rows}
        decided = {a: d.timestamp() for a, level, _, d in rows if level == "acceptance_point" and d}
        result.opened_point = [
            opened[a, "acceptance_point"] - done[a]
            for a in done
            if (a, "acceptance_point") in opened
        ]
        result.opened_subcentre = [
            opened[a, "subcentre"] + wall_offset - decided[a]
            for a in done
            if (a, "subcentre") in opened and a in decided
        ]
        # And until it was committed: the worker logs "case opened" just after its commit.
        committed = committed_at(self.env.var_dir / "logs", set(done))
        result.committed_point = [
            committed[a, "acceptance_point"] - wall_offset - done[a]
            for a in done
            if (a, "acceptance_point") in committed
        ]
        result.committed_subcentre = [
            committed[a, "subcentre"] - decided[a]
            for a in done
            if (a, "subcentre") in committed and a in decided
        ]
        if result.drained:
            with self.db("intake") as conn:
                row = conn.execute(
                    "SELECT max(final_at) FROM applications WHERE id = ANY(%s::uuid[])",
                    (list(done),),
                ).fetchone()
            if row and row[0]:
                result.drain_seconds = row[0].timestamp() - wall_offset - first

    def verify(self, result: RunResult, ids: list[str]) -> None:
        """Nothing lost, nothing twice: in review, in intake, in the ledger, in the outboxes."""
        n, levels = result.count, ("acceptance_point", "subcentre")

        def check(name: str, ok: bool, detail: str) -> None:
            result.checks.append((name, ok, detail))

        check("distinct application ids from the window", len(set(ids)) == n, f"{len(set(ids))}")
        with self.db("review") as conn:
            per_level: dict[str, tuple[int, int, int]] = {
                row[0]: (row[1], row[2], row[3])
                for row in conn.execute(
                    "SELECT level::text, count(*), count(DISTINCT application_id),"
                    " count(*) FILTER (WHERE status = 'decided' AND decision = 'approve')"
                    " FROM cases WHERE application_id = ANY(%s::uuid[]) GROUP BY level",
                    (ids,),
                )
            }
            stray = scalar(
                conn,
                "SELECT count(*) FROM cases WHERE kind = 'deposit'"
                " AND NOT (application_id = ANY(%s::uuid[]))",
                self.all_ids,
            )
            review_unsent = scalar(conn, "SELECT count(*) FROM outbox WHERE sent_at IS NULL")
        for level in levels:
            cases, apps, approved = per_level.get(level, (0, 0, 0))
            check(
                f"review: one case per application at {level}",
                cases == apps == approved == n,
                f"{cases} cases for {apps} of {n} applications, {approved} approved",
            )
        others = {k: v for k, v in per_level.items() if k not in levels}
        check("review: no case at any other level", not others, str(others or "none"))
        check("review: no case for an application not submitted", stray == 0, str(stray))
        with self.db("intake") as conn:
            statuses: dict[str, int] = {
                row[0]: row[1]
                for row in conn.execute(
                    "SELECT status::text, count(*) FROM applications"
                    " WHERE id = ANY(%s::uuid[]) GROUP BY status",
                    (ids,),
                )
            }
            entries = scalar(
                conn,
                "SELECT count(*) FROM ledger_entries WHERE application_id = ANY(%s::uuid[])",
                ids,
            )
            posted = scalar(
                conn,
                "SELECT count(DISTINCT application_id) FROM ledger_entries"
                " WHERE application_id = ANY(%s::uuid[])",
                ids,
            )
            events: dict[str, int] = {
                row[0]: row[1]
                for row in conn.execute(
                    "SELECT type, count(*) FROM application_events"
                    " WHERE application_id = ANY(%s::uuid[]) GROUP BY type",
                    (ids,),
                )
            }
            extra = scalar(
                conn,
                "SELECT count(*) FROM applications WHERE kind = 'deposit'"
                " AND NOT (id = ANY(%s::uuid[]))",
                self.all_ids,
            )
            intake_unsent = scalar(conn, "SELECT count(*) FROM outbox WHERE sent_at IS NULL")
        with self.db("notify") as conn:
            told: dict[str, tuple[int, int]] = {
                row[0]: (row[1], row[2])
                for row in conn.execute(
                    "SELECT event_type, count(*), count(DISTINCT data->>'application_id')"
                    " FROM events WHERE data->>'application_id' = ANY(%s) GROUP BY 1",
                    (ids,),
                )
            }
            deliveries: dict[str, int] = {
                row[0]: row[1]
                for row in conn.execute(
                    "SELECT d.channel::text || ' ' || d.status::text, count(*)"
                    " FROM deliveries d JOIN events e ON e.id = d.event_id"
                    " WHERE e.data->>'application_id' = ANY(%s) GROUP BY 1",
                    (ids,),
                )
            }
        check("intake: every application approved", statuses == {"approved": n}, str(statuses))
        check(
            "intake: one ledger entry per application",
            entries == posted == n,
            f"{entries} entries for {posted} applications",
        )
        wanted = {"taken": n, "passed_up": n, "approved": n}
        check("intake: timeline taken/passed_up/approved once each", events == wanted, str(events))
        check("intake: no deposit the window did not submit", extra == 0, str(extra))
        # The final approval tells notify twice: review (the reviewer's own inbox) and
        # intake (the learner's SMS).
        told_apps = min(told.get(t, (0, 0))[1] for t in NOTIFY_EVENTS)
        check(
            "notify: one event of each kind per application",
            set(told) == set(NOTIFY_EVENTS) and all(c == a == n for c, a in told.values()),
            f"{told or 'none'}; their deliveries: {deliveries or 'none'}",
        )
        check(
            "outboxes: nothing left unsent",
            review_unsent == intake_unsent == 0,
            f"review {review_unsent}, intake {intake_unsent}",
        )
        # Lost: did not come through every step; duplicated: anything there twice or unasked.
        through = [per_level.get(level, (0, 0, 0))[1] for level in levels]
        result.lost = n - min([*through, statuses.get("approved", 0), posted, told_apps])
        result.duplicated = (
            sum(cases - apps for cases, apps, _ in per_level.values())
            + (entries - posted)
            + sum(count - apps for count, apps in told.values())
            + stray
            + extra
            + max(0, len(ids) - len(set(ids)))
        )


# --- report -------------------------------------------------------------------------------------


@dataclass
class Measurement:
    """One whole measurement: the idle baseline, then a run per ``--workers-per-level``."""

    idle: list[float]
    bare_task_cpu: float  # seconds of the bare worker's CPU per idle round trip
    runs: list[RunResult]


def idle_baseline(app: Any, env: Env, procs: Processes, samples: int) -> tuple[list[float], float]:
    """The bare round trip on the idle system, and the CPU seconds its worker's process group
    (main process and pool) spent on each of them, the warm-up included."""
    return idle_round_trips(
        app, env.redis_url, component_groups(procs), component("roundtrip"), samples
    )


def report(args: argparse.Namespace, m: Measurement) -> None:
    idle, runs = m.idle, m.runs
    heads = [f"{r.workers} worker{'s' if r.workers > 1 else ''}/level" for r in runs]
    print()
    print(f"{'':44}" + "".join(f"{h:>22}" for h in heads))
    print(f"{'':44}" + "".join(f"{'p50 ms':>11}{'p99 ms':>11}" for _ in runs))

    def row(label: str, values: list[list[float]]) -> None:
        cells = "".join(
            f"{ms(percentile(v, 0.5)):>11}{ms(percentile(v, 0.99)):>11}" for v in values
        )
        print(f"{label:44}{cells}")

    row("bare Celery round trip, idle (before runs)", [idle for _ in runs])
    row("bare Celery round trip, during the run", [r.under_load for r in runs])
    row("POST /api/v1/applications (201)", [r.submit_latency for r in runs])
    row("POST /api/v1/cases/<id>/decision (200)", [r.decision_latency for r in runs])
    row("submit -> case in the point's inbox", [r.to_point for r in runs])
    row("  of which until its worker opened it", [r.opened_point for r in runs])
    row("  of which until its worker committed it", [r.committed_point for r in runs])
    row("point decision -> case in S001's inbox", [r.to_subcentre for r in runs])
    row("  of which until its worker opened it", [r.opened_subcentre for r in runs])
    row("  of which until its worker committed it", [r.committed_subcentre for r in runs])

    def ratio(label: str, pick: Any, base: Any) -> None:
        cells = ""
        for r in runs:
            p99, b99 = percentile(pick(r), 0.99), percentile(base(r), 0.99)
            verdict = "ok" if p99 <= 10 * b99 else "OVER"
            cells += f"{p99 / b99:>17.1f}x {verdict:>4}"
        print(f"{label:44}{cells}")

    ratio("submit hop p99 / idle round trip p99", lambda r: r.to_point, lambda r: idle)
    ratio("decision hop p99 / idle round trip p99", lambda r: r.to_subcentre, lambda r: idle)
    ratio("submit hop p99 / round trip p99 in run", lambda r: r.to_point, lambda r: r.under_load)
    ratio(
        "decision hop p99 / round trip p99 in run", lambda r: r.to_subcentre, lambda r: r.under_load
    )

    def line(label: str, cell: Any) -> None:
        print(f"{label:44}" + "".join(f"{cell(r):>22}" for r in runs))

    line(
        "submitted in (rate)",
        lambda r: f"{r.submit_seconds:.1f} s ({r.count / r.submit_seconds:.0f}/s)",
    )
    line(
        "drain time (first submit -> last approved)",
        lambda r: f"{r.drain_seconds:.1f} s" if r.drained else "NOT DRAINED",
    )
    line(
        "throughput to the ledger",
        lambda r: f"{r.count / r.drain_seconds:.0f}/s" if r.drained else "-",
    )
    line(
        "mean inbox poll period point / S001",
        lambda r: (
            "/".join(f"{r.poll_ms.get(k, math.nan):.1f}" for k in ("point", "subcentre")) + " ms"
        ),
    )
    line(
        "largest inbox backlog point / S001",
        lambda r: "/".join(str(r.backlog.get(k, "-")) for k in ("point", "subcentre")) + " cases",
    )
    line("applications lost / duplicated", lambda r: f"{r.lost} / {r.duplicated}")
    cpu_table(m)
    for r in runs:
        print(f"\nchecks, {r.workers} worker process(es) per level queue:")
        for name, ok, detail in r.checks:
            print(f"  [{'ok' if ok else 'FAIL'}] {name}: {detail}")
        for error in r.errors[:10]:
            print(f"  ERROR {error}")
    print()
    print(
        "expected: each hop's p99 within 10x of the bare round trip's p99, and no application "
        "lost or duplicated"
    )


def cpu_table(m: Measurement) -> None:
    """CPU per component: the system's (its total is the headline), the benchmark's own and
    what is shared with the rest of the machine, each per application too."""
    runs = m.runs
    print(
        "\nCPU from the first submit until intake and notify were drained "
        f"(this machine: {os.cpu_count()} cores)"
    )
    print(f"{'':44}" + "".join(f"{'seconds':>12}{'ms/appl.':>10}" for _ in runs))

    def line(label: str, seconds: list[float]) -> None:
        cells = "".join(
            f"{t:>12.1f}{t / r.count * 1000:>10.1f}" for t, r in zip(seconds, runs, strict=True)
        )
        print(f"  {label:42}{cells}")

    names = {n for r in runs for n in r.cpu}
    system = sorted(n for n in names if not n.startswith(("bench", PG_OURS)) and n not in APART)
    pg = sorted(n for n in names if n.startswith(PG_OURS))
    for name in system:
        line(name, [r.cpu.get(name, 0.0) for r in runs])
    line("postgres, this bench's databases", [sum(r.cpu.get(n, 0.0) for n in pg) for r in runs])
    for name in pg:
        line(f"  serving {name.removeprefix(PG_OURS)}", [r.cpu.get(name, 0.0) for r in runs])
    totals = [r.system_cpu() for r in runs]
    line("= the system (headline)", totals)
    print(
        f"  {'  cores busy on average':42}"
        + "".join(f"{t / r.cpu_seconds:>22.2f}" for t, r in zip(totals, runs, strict=True))
    )
    print(
        f"  {'  over the bare task CPU (idle, same run)':42}"
        + "".join(
            f"{t / r.count / m.bare_task_cpu:>21.0f}x" for t, r in zip(totals, runs, strict=True)
        )
    )
    print("  the benchmark's own, not counted:")
    for name in sorted(n for n in names if n.startswith("bench")):
        line(name.removeprefix("bench: "), [r.cpu.get(name, 0.0) for r in runs])
    print("  shared with the machine's other users, not counted:")
    line(PG_SHARED, [r.cpu.get(PG_SHARED, 0.0) for r in runs])
    line("postgres, whole server, every user's", [r.cpu.get(PG_WHOLE, 0.0) for r in runs])
    print(
        f"  bare round-trip worker, idle: {m.bare_task_cpu * 1000:.2f} ms of CPU a task. "
        "Redis: the bench's own server (the prober's 10 round trips a second in it too)."
    )
    for r in runs:
        print(
            f"  postgres, {r.workers}/level: {r.pg_seen} backends of this bench's databases "
            f"seen ({r.pg_at_start} there at the start, {r.pg_born} born since, "
            f"{r.pg_exited} gone before the end: counted to their last sample, 0.5 s apart); "
            f"{r.pg_sessions_opened} sessions opened in the run (pg_stat_database, about), "
            f"{max(0, r.pg_sessions_opened - r.pg_born)} of them never sampled, not counted"
        )


def headlines(m: Measurement) -> dict[str, float]:
    """The headline figures of one measurement: the first run's (the first figure of
    ``--workers-per-level``) unsuffixed, each run's CPU and drain time by its workers."""
    first, idle99 = m.runs[0], percentile(m.idle, 0.99)
    submit = percentile(first.to_point, 0.99) / idle99
    decision = percentile(first.to_subcentre, 0.99) / idle99
    cpu = first.system_cpu() / first.count
    figures = {
        "cpu_ms_per_application": cpu * 1000,
        "bare_task_cpu_ms": m.bare_task_cpu * 1000,
        "cpu_per_application_over_bare_task": cpu / m.bare_task_cpu,
        "hop_p99_over_idle_round_trip": max(submit, decision),
        "submit_hop_p99_over_idle_round_trip": submit,
        "decision_hop_p99_over_idle_round_trip": decision,
        "submit_hop_p99_ms": percentile(first.to_point, 0.99) * 1000,
        "decision_hop_p99_ms": percentile(first.to_subcentre, 0.99) * 1000,
        "submit_hop_to_commit_p99_ms": percentile(first.committed_point, 0.99) * 1000,
        "decision_hop_to_commit_p99_ms": percentile(first.committed_subcentre, 0.99) * 1000,
        "idle_round_trip_p99_ms": idle99 * 1000,
    }
    drains: dict[int, float] = {}
    for r in m.runs:
        workers = f"{r.workers}_worker{'s' if r.workers > 1 else ''}"
        figures[f"cpu_ms_per_application_{workers}"] = r.system_cpu() / r.count * 1000
        figures[f"drain_s_{workers}_per_level"] = r.drain_seconds
        drains[r.workers] = r.drain_seconds
    if 1 in drains and 2 in drains:
        figures["drain_ratio_2_over_1"] = drains[2] / drains[1]
    figures["lost"] = sum(r.lost for r in m.runs)
    figures["duplicated"] = sum(r.duplicated for r in m.runs)
    return figures


COUNTS = ("lost", "duplicated")  # summed over the runs, never a median


def print_headlines(measurements: list[Measurement]) -> None:
    """``name: value`` one a line, last; with several runs each run's (``_run<k>``) first,
    then the medians (the counts summed)."""
    each = [headlines(m) for m in measurements]
    print()
    if len(each) > 1:
        for k, figures in enumerate(each, 1):
            for name, value in figures.items():
                print(
                    f"{name}_run{k}: {value:.2f}"
                    if name not in COUNTS
                    else f"{name}_run{k}: {value:.0f}"
                )
    for name in each[0]:
        values = [f[name] for f in each]
        if name in COUNTS:
            print(f"{name}: {sum(values):.0f}")
        else:
            print(f"{name}: {statistics.median(values):.2f}")


# --- main ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000, help="deposits per run")
    parser.add_argument(
        "--workers-per-level",
        default="1,2",
        help="worker processes per level queue, one run each (comma-separated)",
    )
    parser.add_argument("--clients", type=int, default=4, help="window client processes")
    parser.add_argument("--rate", type=float, default=0, help="deposits/s in all (0: no pacing)")
    parser.add_argument("--approvers", type=int, default=2, help="approving threads per reviewer")
    parser.add_argument("--poll-ms", type=float, default=5, help="pause between inbox polls")
    parser.add_argument("--web-workers", type=int, default=3, help="gunicorn workers per service")
    parser.add_argument(
        "--inbox-web-workers",
        type=int,
        default=2,
        help="sync workers of the bench's own review web serving the reviewers' inbox polling",
    )
    parser.add_argument("--accounts", type=int, default=20, help="learning accounts to deposit to")
    parser.add_argument(
        "--pool",
        default="prefork",
        choices=("prefork", "solo"),
        help="the level and intake workers' Celery pool (the bare round trip's stays prefork)",
    )
    parser.add_argument("--baseline-samples", type=int, default=500)
    parser.add_argument(
        "--runs",
        type=int,
        default=1,
        help="whole measurements (idle baseline and every --workers-per-level) on one system",
    )
    parser.add_argument(
        "--timeout", type=float, default=0, help="seconds per run (0: 120 + 0.2 s per deposit)"
    )
    args = parser.parse_args(argv)
    args.timeout = args.timeout or 120 + 0.2 * args.count
    args.levels = [int(x) for x in args.workers_per_level.split(",")]
    if args.runs < 1 or not all(n >= 1 for n in args.levels):
        parser.error("--runs and each of --workers-per-level must be 1 or more")
    return args


def start_system(env: Env, procs: Processes, args: argparse.Namespace) -> dict[str, int]:
    """Every process of the flow, and the bench's own review web for the inbox polling; the
    ports of the web services."""
    ports = {s: free_port() for s in ("org", "intake", "review", "review-inbox")}
    for name, port in ports.items():
        workers = args.inbox_web_workers if name == "review-inbox" else args.web_workers
        service = name.removesuffix("-inbox")
        procs.serve(name, f"services.{service}.app:create_app()", port, workers)
    for service in ("intake", "review"):
        procs.relay(service)
    for name, service, concurrency in (("intake", "intake", 2), ("notify", "notify", 2)):
        procs.celery(
            f"worker-{name}",
            f"services.{service}.worker",
            service,
            f"{name}@bench",
            concurrency,
            loglevel=LOGLEVEL,
            pool=args.pool if name == "intake" else "prefork",
        )
    procs.celery(
        "roundtrip", ROUNDTRIP_MODULE, ROUNDTRIP_QUEUE, "roundtrip@bench", 1, loglevel=LOGLEVEL
    )
    for name, port in ports.items():
        wait_healthy(port, name, procs)
    return ports


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    exit_on_sigterm()
    # The bench's own connections (setup in this process, its queries): counted apart. The
    # system's processes get their own names (Processes(app_names=True)).
    os.environ["PGAPPNAME"] = BENCH_APP
    env = Env("bench_review", SERVICES, redis_port=free_port())
    assert env.redis_port is not None
    redis_server = OwnRedis(env.var_dir, env.redis_port)
    procs = Processes(env, app_names=True)
    failed = True
    try:
        redis_server.start()
        assert redis_server.proc is not None
        setup(env)
        roundtrip_app = load_roundtrip(env)
        ports = start_system(env, procs, args)
        wait_workers(roundtrip_app, ["intake@bench", "notify@bench", "roundtrip@bench"], procs)
        per_level = args.levels[0]
        start_level_workers(procs, roundtrip_app, per_level, args.pool)
        intake = Http(ports["intake"])
        staff = prepare_org(Http(ports["org"]))
        accounts = open_accounts(intake, Http(ports["review"]), staff, min(args.accounts, 999))
        sha = upload_evidence(intake, staff.window)
        bench = Bench(
            env, procs, ports, staff, accounts, sha, args, roundtrip_app, redis_server.proc.pid
        )
        print(
            f"review flow: {args.count} social-training deposits per run at {staff.point} "
            f"(acceptance point -> sub-centre {SUBCENTRE}), {len(accounts)} accounts"
        )
        print(
            f"processes: gunicorn org/intake/review, {args.web_workers} sync workers each "
            "(deploy/gunicorn.conf.py); outbox relays intake and review; intake worker and "
            "notify worker --concurrency 2; review level workers on all 4 level queues as "
            "separate `celery worker --concurrency 1` processes, N per queue; redis-server of "
            "the bench's own on 127.0.0.1:"
            f"{env.redis_port}; the inbox polling on a review gunicorn of the bench's own "
            f"({args.inbox_web_workers} sync workers)"
        )
        print(
            f"load: {args.clients} window client processes"
            + (f" paced to {args.rate:.0f}/s" if args.rate else ", unpaced")
            + f"; 2 reviewer processes, {args.approvers} approving threads each; inbox probed "
            f"(per_page=1) with {args.poll_ms:g} ms pauses, pages read when the count shows "
            "unseen cases: an inbox latency includes up to one poll period (mean below); "
            "'of which' rows: until the level worker opened the case (review's opened_at) "
            "and until it committed it (its log line after the commit)"
        )
        measurements = []
        for k in range(1, args.runs + 1):
            idle, bare_task_cpu = idle_baseline(roundtrip_app, env, procs, args.baseline_samples)
            print(
                f"\nmeasurement {k} of {args.runs}: bare Celery round trip, idle: {len(idle)} "
                f"samples, {bare_task_cpu * 1000:.2f} ms of the bare worker's CPU a task",
                flush=True,
            )
            runs = []
            for workers in args.levels:
                if workers != per_level:
                    stop_level_workers(procs)
                    start_level_workers(procs, roundtrip_app, workers, args.pool)
                    per_level = workers
                started = time.monotonic()
                runs.append(bench.run(workers))
                print(
                    f"run with {workers} worker process(es) per level queue: "
                    f"{time.monotonic() - started:.0f} s",
                    flush=True,
                )
            measurements.append(Measurement(idle, bare_task_cpu, runs))
            report(args, measurements[-1])
        print_headlines(measurements)
        failed = any(r.lost or r.duplicated or not r.drained for m in measurements for r in m.runs)
    finally:
        if failed:
            print_log_tails(env)
        procs.stop_all()
        redis_server.stop()
        env.remove()
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
