"""The window's pages under simulated clerks and reviewers, each next to the bare API calls it
makes, measured in the same run with the same token.

    .venv/bin/python bench/window.py [--clerks 4] [--reviewers 2] [--seconds 60] [--think 0.5]

Runs the whole system as the browser tests do (tests/window/system.py): org, intake, review,
notify and the window under gunicorn (deploy/gunicorn.conf.py, sync workers; the access log
also in microseconds, with the request id), the org, intake and review outbox relays, and one
Celery worker per service on its queues. Loads the org tree and review's routes, brings an
acceptance point under sub-centre S001 to OPERATING over org's API, with a service clerk
account per simulated clerk, a reviewer account per simulated reviewer (at the point and at
S001, alternately), and opens ``--learners`` learning accounts (approved at the point through
review), so that the pages have learners to find and accounts to show.

Each simulated person is a process of its own (``requests``, no load-testing framework: a
handful of people with pauses need no event loop, a process each keeps one person's parsing
off another's timings, and every sample is kept for exact percentiles) with its own browser
session: it signs in through ``/login`` (the CSRF token read from the form; one person every
half second) and then, until ``--warmup`` + ``--seconds`` are over, works the pages, pausing
``--think`` seconds (0.5x to 1.5x, at random) where a person would read or type:

* a clerk: the workbench ``/``; ``/learners/find`` (the form, then POST a document); the
  account ``/accounts/<ref>`` (balances and ledger); the deposit form; the evidence upload
  ``POST /evidence`` (a PDF of ``--evidence-kb``, as the page's script sends it when the
  file is chosen); the deposit ``POST /accounts/<ref>/deposit``; the receipt it redirects to;
* a reviewer: the inbox ``/review/inbox``; the oldest case of its share (reviewers of one
  level split the cases by id, so they never collide); the decision (approve), whose redirect
  is the next inbox.

After every HTML page the simulated browser asks for the page's style sheets and scripts as
Chromium does: not at all while its cached copy is fresh (``max-age``, as the window serves
its files, addressed by their content), else again with their ETag (a 304 for a file served
``no-cache``); fetched whole once, at sign-in; ``--no-assets`` leaves them out.

Next to every page view the same person makes, with the window's current access token for
its session (read from the window's Redis) over a plain HTTP session, the API calls that
page makes, one after the other as the page does; before the page or after it, in turn. A
POST's twin acts on its own object (its own evidence file and deposit, another case), so
the run creates twice what the pages create. Printed:

* per page: views, p50/p95, and the bare calls' p50/p95 (their times summed per view) and
  the ratios; the sign-in in the same table (once per person, not in the steady state);
* where a page's time goes, from the access logs by request id: the window's own time
  in gunicorn, the API calls' time inside it (and how many calls), and the rest (waiting
  for a free window worker, connecting, transfer);
* CPU seconds per process group during the measured seconds (PostgreSQL and Redis: the
  whole servers), the window's per page view;
* headline figures, one per line, ``name: value``.

Loopback only. Uses its own databases, Redis DB and key directory, all removed at the end,
also on failure, Ctrl-C or SIGTERM; the simulated people stop with it. Exits 1 if any page or
call answered otherwise than expected.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import multiprocessing as mp
import os
import queue
import random
import re
import secrets
import signal
import statistics
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
import requests  # noqa: E402

from bench._support import (  # noqa: E402
    CLOCK_TICKS,
    Env,
    Processes,
    cpu_seconds,
    exit_on_sigterm,
    free_port,
    ms,
    percentile,
    print_log_tails,
    wait_healthy,
    wait_workers,
)

DATABASES = ("org", "intake", "review", "notify")
WEB = ("org", "intake", "review", "notify", "window")
# As the browser tests run them (tests/window/system.py): one worker per service, solo pool.
WORKERS = {
    "org": ["org"],
    "intake": ["intake", "intake.imports"],
    "review": ["review.acceptance_point", "review.subcentre", "review.branch", "review.province"],
    "notify": ["notify"],
}
RELAYS = ("org", "intake", "review")
SUBCENTRE = "S001"
PASSWORD = "bench-pass-123"  # noqa: S105 - the bench's own throwaway accounts
ADMIN = "bench-admin"
# The deployment's access log format with the time in microseconds too (%(D)s).
ACCESS_FORMAT = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms %(D)sus rid=%({x-request-id}o)s'
ACCESS_LINE = re.compile(r'"([A-Z]+) (\S*)" (\d{3}) \S+ \d+ms (\d+)us rid=(\S*)')
COOKIE = "cbw"  # the window's session cookie outside production (services/window/sessions.py)
TOKENS = "cb:window:tokens:{}"  # where the window keeps a session's tokens (signin.TOKENS)
HTTP_TIMEOUT = 60
MAX_ERRORS = 20  # a simulated person gives up after this many unexpected answers
SIGNIN_SPACING = 0.5  # seconds between one person's sign-in and the next one's

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
IDEMPOTENCY = re.compile(r'name="idempotency_key" value="([^"]+)"')
ACCOUNT_REF = re.compile(r'href="/accounts/(ar1\.[^"/]+)/deposit"')
UPLOADED = re.compile(r'name="attachments" value="([0-9a-f]{64})"')
CASE_LINK = re.compile(r'href="/review/cases/([0-9a-f-]{36})"')
ASSET = re.compile(r'(?:href|src)="(/static/[^"]+)"')
RECEIPT = re.compile(r"/applications/([0-9a-f-]{36})/receipt$")


@dataclass(frozen=True)
class Page:
    slug: str
    who: str
    label: str
    bare: str  # the API calls the page makes, as the table's legend names them


PAGES = (
    Page("login", "all", "POST /login (sign-in)", "org POST /auth/token, GET /me"),
    Page(
        "home",
        "clerk",
        "GET / (workbench)",
        "intake GET /applications?status=... x4 (counts), ?status=returned (list); "
        "notify GET /inbox?unread",
    ),
    Page("find_form", "clerk", "GET /learners/find", "none"),
    Page("find", "clerk", "POST /learners/find", "intake POST /learners/lookup"),
    Page(
        "account",
        "clerk",
        "GET /accounts/<ref>",
        "intake GET /accounts/<ref>, GET /accounts/<ref>/ledger",
    ),
    Page("deposit_form", "clerk", "GET /accounts/<ref>/deposit", "intake GET /accounts/<ref>"),
    Page("evidence", "clerk", "POST /evidence", "intake POST /attachments"),
    Page(
        "deposit",
        "clerk",
        "POST /accounts/<ref>/deposit",
        "intake GET /accounts/<ref>, POST /applications",
    ),
    Page(
        "receipt",
        "clerk",
        "GET /applications/<id>/receipt",
        "intake GET /applications/<id>; org GET /units/<code>",
    ),
    Page("inbox", "reviewer", "GET /review/inbox", "review GET /inbox?page=1&per_page=20"),
    Page(
        "case",
        "reviewer",
        "GET /review/cases/<id>",
        "review GET /cases/<id>; intake GET /applications/<id>",
    ),
    Page(
        "decide", "reviewer", "POST /review/cases/<id>/decision", "review POST /cases/<id>/decision"
    ),
)
SIGN_IN = ("login",)  # measured once per person, before the clock starts


# --- setting up: the world, the processes, the point and its staff ---------------------------


def setup(env: Env, urls: dict[str, str], token_ttl: int) -> None:
    """Databases, a Redis DB, keys, migrations, the org tree, the first admin, the routes."""
    from deploy.bootstrap import load_org, seed_review
    from shared.migrations import upgrade

    with contextlib.redirect_stdout(io.StringIO()):  # the bootstrap's progress lines
        env.create(
            {
                # As the tests run: production's settings but for the cookie, which is
                # Secure only in production (and loopback is plain HTTP).
                "CB_ENV": "test",
                "CB_ACCESS_TOKEN_TTL": str(token_ttl),
                "CB_ADMIN_USERNAME": ADMIN,
                "CB_ADMIN_PASSWORD": PASSWORD,
                **{f"CB_{s.upper()}_URL": urls[s] for s in DATABASES},
                "CB_WINDOW_PUBLIC_URL": urls["window"],
            }
        )
        for service in DATABASES:
            upgrade(service, env.url(service))
        load_org()
        seed_review()


def start_system(
    procs: Processes, ports: dict[str, int], args: argparse.Namespace, broker: str
) -> None:
    for service in WEB:
        workers = args.window_workers if service == "window" else args.api_workers
        procs.serve(
            service,
            f"services.{service}.app:create_app()",
            ports[service],
            workers,
            extra=("--access-logformat", ACCESS_FORMAT),
        )
    for service in RELAYS:
        procs.relay(service)
    for service, queues in WORKERS.items():
        procs.start(
            f"worker-{service}",
            [sys.executable, "-m", "celery", "-A", f"services.{service}.worker", "worker",
             "-Q", ",".join(queues), "-n", f"{service}@bench", "--pool", "solo",
             "--loglevel", "WARNING", "--without-mingle", "--without-gossip"],
        )  # fmt: skip
    for service in WEB:
        wait_healthy(ports[service], service, procs)
    from celery import Celery

    pinger = Celery("bench_window_ping", broker=broker)
    wait_workers(pinger, [f"{s}@bench" for s in WORKERS], procs)


class Api:
    """Plain JSON calls to one service, for setting up."""

    def __init__(self, base: str) -> None:
        self.base, self.http = base, requests.Session()

    def __call__(
        self, method: str, path: str, token: str | None = None, expect: int = 200, **kw: Any
    ) -> Any:
        headers = dict(kw.pop("headers", {}))
        if token:
            headers["Authorization"] = f"Bearer {token}"
        answer = self.http.request(
            method, f"{self.base}/api/v1{path}", headers=headers, timeout=HTTP_TIMEOUT, **kw
        )
        if answer.status_code != expect:
            raise RuntimeError(
                f"{method} {path}: HTTP {answer.status_code} (wanted {expect}): {answer.text[:300]}"
            )
        return answer.json() if answer.content else None


@dataclass
class World:
    point: str
    clerks: list[str]
    point_reviewers: list[str]
    subcentre_reviewers: list[str]
    documents: list[str]


def resident_id(seq: int) -> str:
    from shared.identity import check_character

    first17 = f"33010219850611{seq:03d}"
    return first17 + check_character(first17)


def prepare(urls: dict[str, str], args: argparse.Namespace) -> World:
    """Over org's API, as a province admin, a bureau, a manager and the point's admin would;
    then learning accounts opened at the window and approved at the point through review."""
    org, intake, review = Api(urls["org"]), Api(urls["intake"]), Api(urls["review"])

    def sign(username: str) -> str:
        body = {"username": username, "password": PASSWORD}
        return str(org("POST", "/auth/token", json=body)["access_token"])

    def staff(by: str, username: str, unit: str, role: str) -> str:
        body = {"username": username, "display_name": username, "unit_code": unit,
                "roles": [role], "password": PASSWORD}  # fmt: skip
        org("POST", "/staff", by, 201, json=body)
        return username

    admin = sign(ADMIN)
    staff(admin, "bench-bureau", SUBCENTRE, "bureau")
    staff(admin, "bench-manager", SUBCENTRE, "management")
    n_point = (args.reviewers + 1) // 2
    subcentre_reviewers = [
        staff(admin, f"bench-s001-reviewer-{i + 1}", SUBCENTRE, "reviewer")
        for i in range(args.reviewers - n_point)
    ]
    point = org(
        "POST",
        "/acceptance-points",
        sign("bench-bureau"),
        201,
        json={"name": "基准测试社区学校", "parent_code": SUBCENTRE,
              "point_kind": "community_school", "point_tier": "township"},
    )["code"]  # fmt: skip
    p = point.lower()
    allocation = org(
        "POST",
        f"/acceptance-points/{point}/allocation",
        sign("bench-manager"),
        201,
        json={"admin_username": f"{p}-admin", "admin_display_name": "管理员"},
    )
    org(
        "POST",
        "/activation",
        json={"username": f"{p}-admin", "activation_code": allocation["activation_code"],
              "password": PASSWORD},
    )  # fmt: skip
    padmin = sign(f"{p}-admin")
    for role in ("management", "technical"):
        staff(padmin, f"{p}-{role}", point, role)
    clerks = [staff(padmin, f"{p}-service-{i + 1}", point, "service") for i in range(args.clerks)]
    point_reviewers = [
        staff(padmin, f"{p}-reviewer-{i + 1}", point, "reviewer") for i in range(n_point)
    ]
    # Who opens and approves the accounts before the run (not simulated).
    opener = staff(padmin, f"{p}-service-setup", point, "service")
    approver = staff(padmin, f"{p}-reviewer-setup", point, "reviewer")
    org(
        "PUT",
        f"/acceptance-points/{point}/window",
        padmin,
        json={"address": "杭州市上城区解放路1号", "opening_hours": "周一至周五 9:00-17:00"},
    )
    org("POST", f"/acceptance-points/{point}/start", padmin)
    documents = [resident_id(i) for i in range(args.learners)]
    open_accounts(intake, review, sign(opener), sign(approver), documents)
    return World(point, clerks, point_reviewers, subcentre_reviewers, documents)


def open_accounts(
    intake: Api, review: Api, window: str, reviewer: str, documents: list[str]
) -> None:
    openings = [
        intake(
            "POST",
            "/accounts",
            window,
            201,
            json={
                "document_type": "resident_id",
                "document_number": number,
                "name": "测试学员",
                "phone": f"138{i:08d}",
                "verification_method": "card_reader",
            },
        )["id"]
        for i, number in enumerate(documents)
    ]
    pending, deadline = set(openings), time.monotonic() + 120
    while pending and time.monotonic() < deadline:
        inbox = review("GET", "/inbox?kind=account_opening&per_page=100", reviewer)
        for case in inbox["items"]:
            if case["application_id"] in pending:
                body = {"decision": "approve"}
                review("POST", f"/cases/{case['id']}/decision", reviewer, json=body)
                pending.discard(case["application_id"])
        time.sleep(0.1)
    if pending:
        raise RuntimeError(f"{len(pending)} account opening(s) never reached the point's inbox")
    for opening in openings:
        deadline = time.monotonic() + 60
        while not intake("GET", f"/applications/{opening}", window)["account_number"]:
            if time.monotonic() > deadline:
                raise RuntimeError(f"account opening {opening} approved but no account number")
            time.sleep(0.1)


# --- a simulated person -----------------------------------------------------------------------


class Unexpected(Exception):
    """A page or call answered otherwise than a person would expect."""


class Over(Exception):
    """The run's time is up: no new step is started."""


class Record(NamedTuple):
    """One measured request (a page) or group of calls (its bare twin). The people's
    processes send them as plain tuples."""

    slug: str
    kind: str  # "page" or "bare"
    started: float  # time.monotonic(), the same clock in every process of the machine
    seconds: float
    status: int
    rid: str  # the request id the window and the APIs log: wb-<person>-<p|b><serial>
    pair: int  # the page view and its twin share it (per person); 0: sign-in; -1: none
    calls: int  # API calls made (bare), 1 for a page
    size: int  # bytes of the answer (a page's HTML)


class Person:
    """One clerk or reviewer at their own browser (a cookie jar of its own), and the same
    person's token used bare over a plain HTTP session."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg, self.name = cfg, cfg["name"]
        self.window, self.urls = cfg["urls"]["window"], cfg["urls"]
        self.browser, self.plain = requests.Session(), requests.Session()
        self.redis = redis.Redis.from_url(cfg["redis_url"])
        self.rng = random.Random(cfg["seed"])
        self.records: list[tuple[Any, ...]] = []
        self.errors: list[str] = []
        # The browser's cache of the static files: their ETag, and until when they are fresh.
        self.etags: dict[str, tuple[str, float]] = {}
        self.serial = self.pairs = 0
        self.end = math.inf

    # -- time --

    def check_time(self) -> None:
        if time.monotonic() >= self.end:
            raise Over()

    def think(self) -> None:
        pause = self.cfg["think"] * self.rng.uniform(0.5, 1.5)
        time.sleep(max(0.0, min(pause, self.end - time.monotonic())))
        self.check_time()

    def rid(self, kind: str) -> str:
        self.serial += 1
        return f"wb-{self.name}-{kind}{self.serial}"

    # -- requests --

    def _send(
        self, http: requests.Session, method: str, url: str, rid: str, **kw: Any
    ) -> tuple[requests.Response, float]:
        headers = {**kw.pop("headers", {}), "X-Request-ID": rid}
        began = time.perf_counter()
        answer = http.request(
            method, url, headers=headers, allow_redirects=False, timeout=HTTP_TIMEOUT, **kw
        )
        answer.content  # noqa: B018 - the whole body, as a browser waits for it
        return answer, time.perf_counter() - began

    def page(
        self, slug: str, pair: int, method: str, path: str, expect: int = 200, **kw: Any
    ) -> requests.Response:
        """One page request through the window, as the browser sends it (no redirect
        followed: the next request is measured on its own)."""
        rid, started = self.rid("p"), time.monotonic()
        answer, seconds = self._send(self.browser, method, self.window + path, rid, **kw)
        self.records.append(
            (slug, "page", started, seconds, answer.status_code, rid, pair, 1, len(answer.content))
        )
        if answer.status_code != expect:
            raise Unexpected(f"{method} {path}: {answer.status_code} (wanted {expect})")
        if answer.headers.get("Content-Type", "").startswith("text/html") and expect == 200:
            self.assets(answer.text)
        return answer

    def assets(self, html: str) -> None:
        """The page's style sheets and scripts, as the browser treats them on every page:
        nothing while the cached copy is fresh (``max-age``); revalidated with its ETag (a
        304) when it is not (``no-cache``); fetched whole the first time (at sign-in)."""
        if not self.cfg["assets"]:
            return
        for path in dict.fromkeys(ASSET.findall(html)):
            etag, fresh_until = self.etags.get(path, ("", 0.0))
            if time.monotonic() < fresh_until:
                continue
            headers = {"If-None-Match": etag} if etag else {}
            answer = self.page("static", -1, "GET", path, 304 if etag else 200, headers=headers)
            age = re.search(r"max-age=(\d+)", answer.headers.get("Cache-Control", ""))
            fresh = time.monotonic() + int(age.group(1)) if age else 0.0
            self.etags[path] = (answer.headers.get("ETag", etag), fresh)

    def token(self) -> str:
        """The access token the window holds for this session now (the same one it uses)."""
        raw = self.redis.get(TOKENS.format(self.browser.cookies.get(COOKIE, "")))
        if raw is None:
            raise Unexpected("the window holds no tokens for this session")
        return str(json.loads(raw)["access"])

    @contextlib.contextmanager
    def bare(self, slug: str, pair: int) -> Iterator[Callable[..., Any]]:
        """The page's API calls, one after the other with one request id; their times summed
        (not the token's lookup in Redis between them)."""
        token, rid, started = self.token(), self.rid("b"), time.monotonic()
        spent, calls = [0.0], [0]
        status = [200]

        def call(service: str, method: str, path: str, expect: int = 200, **kw: Any) -> Any:
            headers = {**kw.pop("headers", {}), "Authorization": f"Bearer {token}"}
            url = f"{self.urls[service]}/api/v1{path}"
            answer, seconds = self._send(self.plain, method, url, rid, headers=headers, **kw)
            spent[0] += seconds
            calls[0] += 1
            if answer.status_code != expect:
                status[0] = answer.status_code
                raise Unexpected(f"bare {service} {method} {path}: {answer.status_code}")
            return answer.json() if answer.content else None

        try:
            yield call
        finally:
            self.records.append(
                (slug, "bare", started, spent[0], status[0], rid, pair, calls[0], 0)
            )

    def pair(
        self, page: Callable[[int], Any], bare: Callable[[int], Any] | None
    ) -> tuple[Any, Any]:
        """A page and its bare twin, the page first and the twin first in turn."""
        self.check_time()
        self.pairs += 1
        n = self.pairs
        if bare is None:
            return page(n), None
        if n % 2:
            shown = page(n)
            return shown, bare(n)
        twin = bare(n)
        return page(n), twin

    # -- sign-in --

    def sign_in(self) -> None:
        form = self.browser.get(self.window + "/login", timeout=HTTP_TIMEOUT)
        self.assets(form.text)  # the browser's first visit: its cache filled
        self.records.clear()
        csrf = _find(CSRF, form.text, "the sign-in form's CSRF token")
        body = {"csrf_token": csrf, "username": self.cfg["username"], "password": PASSWORD}
        answer = self.page("login", 0, "POST", "/login", 303, data=body)
        if answer.headers.get("Location") != "/":
            raise Unexpected(f"sign-in went to {answer.headers.get('Location')}")
        self.browser.get(self.window + "/", timeout=HTTP_TIMEOUT)  # the landing, not measured
        org = Api(self.urls["org"])
        rid, started = self.rid("b"), time.monotonic()
        began = time.perf_counter()
        credentials = {"username": self.cfg["username"], "password": PASSWORD}
        tokens = org("POST", "/auth/token", json=credentials, headers={"X-Request-ID": rid})
        org("GET", "/me", tokens["access_token"], headers={"X-Request-ID": rid})
        seconds = time.perf_counter() - began
        self.records.append(("login", "bare", started, seconds, 200, rid, 0, 2, 0))

    # -- a clerk --

    def clerk_round(self) -> None:
        document = self.rng.choice(self.cfg["documents"])
        point = self.cfg["point"]

        def home_bare(n: int) -> None:
            with self.bare("home", n) as call:
                for status in ("returned", "in_review", "approved", "rejected"):
                    call("intake", "GET", "/applications", params={"status": status, "per_page": 1})
                call(
                    "intake", "GET", "/applications", params={"status": "returned", "per_page": 10}
                )
                call("notify", "GET", "/inbox", params={"unread": "true", "per_page": 5})

        self.pair(lambda n: self.page("home", n, "GET", "/"), home_bare)
        self.think()
        form, _ = self.pair(lambda n: self.page("find_form", n, "GET", "/learners/find"), None)
        self.think()  # the learner's card read, or the number typed
        body = {"document_type": "resident_id", "document_number": document}
        data = {"csrf_token": _find(CSRF, form.text, "the find form's CSRF token"), **body}

        def find_bare(n: int) -> None:
            with self.bare("find", n) as call:
                call("intake", "POST", "/learners/lookup", json=body)

        found, _ = self.pair(
            lambda n: self.page("find", n, "POST", "/learners/find", data=data), find_bare
        )
        ref = _find(ACCOUNT_REF, found.text, "the learner's account reference")
        self.think()

        def account_bare(n: int) -> None:
            with self.bare("account", n) as call:
                call("intake", "GET", f"/accounts/{ref}")
                call("intake", "GET", f"/accounts/{ref}/ledger", params={"page": 1, "per_page": 20})

        self.pair(lambda n: self.page("account", n, "GET", f"/accounts/{ref}"), account_bare)
        self.think()

        def deposit_form_bare(n: int) -> None:
            with self.bare("deposit_form", n) as call:
                call("intake", "GET", f"/accounts/{ref}")

        form, _ = self.pair(
            lambda n: self.page("deposit_form", n, "GET", f"/accounts/{ref}/deposit"),
            deposit_form_bare,
        )
        csrf = _find(CSRF, form.text, "the deposit form's CSRF token")
        key = _find(IDEMPOTENCY, form.text, "the deposit form's idempotency key")
        self.think()  # the scan chosen

        def upload_page(n: int) -> str:
            answer = self.page(
                "evidence",
                n,
                "POST",
                "/evidence",
                files={"file": ("scan.pdf", self.pdf(), "application/pdf")},
                headers={"X-CSRF-Token": csrf, "HX-Request": "true"},
            )
            return _find(UPLOADED, answer.text, "the uploaded evidence")

        def upload_bare(n: int) -> str:
            with self.bare("evidence", n) as call:
                files = {"file": ("scan.pdf", self.pdf(), "application/pdf")}
                stored = call("intake", "POST", "/attachments", 201, files=files)
            return str(stored["sha256"])

        sha, bare_sha = self.pair(upload_page, upload_bare)
        self.think()  # the form filled in
        certificate = f"WB-{self.name}-{self.pairs}"
        outcome = {"organiser": "杭州市职业技能培训中心", "programme": "电工初级培训",
                   "hours": "48", "start_date": "2026-03-01", "end_date": "2026-03-20"}  # fmt: skip
        fields = {
            "csrf_token": csrf,
            "idempotency_key": key,
            "outcome_kind": "social_training",
            "attachments": sha,
            **{f"outcome.{k}": v for k, v in outcome.items()},
            "outcome.certificate_number": certificate,
        }

        def deposit_page(n: int) -> str:
            answer = self.page(
                "deposit",
                n,
                "POST",
                f"/accounts/{ref}/deposit",
                303,
                data=fields,
                # The file input, emptied by the page's script once the scan was uploaded.
                files={"evidence": ("", b"", "application/octet-stream")},
            )
            return str(answer.headers.get("Location", ""))

        def deposit_bare(n: int) -> None:
            with self.bare("deposit", n) as call:
                call("intake", "GET", f"/accounts/{ref}")
                call(
                    "intake",
                    "POST",
                    "/applications",
                    201,
                    json={
                        "account_ref": ref,
                        "outcome_kind": "social_training",
                        "outcome": {**outcome, "certificate_number": f"{certificate}-bare"},
                        "attachments": [bare_sha],
                    },
                    headers={"Idempotency-Key": str(uuid.uuid4())},
                )

        location, _ = self.pair(deposit_page, deposit_bare)
        taken = _find(RECEIPT, location, "the receipt the deposit redirected to")

        def receipt_bare(n: int) -> None:
            with self.bare("receipt", n) as call:
                call("intake", "GET", f"/applications/{taken}")
                call("org", "GET", f"/units/{point}")

        # The browser follows the redirect at once.
        self.pair(lambda n: self.page("receipt", n, "GET", location), receipt_bare)
        self.think()

    def pdf(self) -> bytes:
        """A scan of ``--evidence-kb``: a PDF whose content differs each time."""
        filler = secrets.token_hex(max(0, self.cfg["evidence_kb"] * 512 - 64)).encode()
        return b"%PDF-1.4\n%" + filler + b"\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"

    # -- a reviewer --

    def mine(self, case_id: str) -> bool:
        """Reviewers of one unit split its cases by id, so that two never take the same."""
        return uuid.UUID(case_id).int % self.cfg["share_of"] == self.cfg["share"]

    def reviewer_rounds(self) -> None:
        inbox_path = "/review/inbox"
        while True:

            def inbox_bare(n: int) -> Any:
                with self.bare("inbox", n) as call:
                    return call("review", "GET", "/inbox", params={"page": 1, "per_page": 20})

            def inbox_page(n: int, path: str = inbox_path) -> requests.Response:
                return self.page("inbox", n, "GET", path)

            listing, listed = self.pair(inbox_page, inbox_bare)
            inbox_path = "/review/inbox"
            cases = [c for c in dict.fromkeys(CASE_LINK.findall(listing.text)) if self.mine(c)]
            self.think()
            if not cases:
                continue
            case_id = cases[0]

            def case_bare(n: int, case_id: str = case_id) -> None:
                with self.bare("case", n) as call:
                    case = call("review", "GET", f"/cases/{case_id}")
                    call("intake", "GET", f"/applications/{case['application_id']}")

            def case_page(n: int, case_id: str = case_id) -> requests.Response:
                return self.page("case", n, "GET", f"/review/cases/{case_id}")

            shown, _ = self.pair(case_page, case_bare)
            csrf = _find(CSRF, shown.text, "the case page's CSRF token")
            self.think()  # the evidence looked at
            other = next(
                (
                    c["id"]
                    for c in (listed or {}).get("items", [])
                    if c["id"] != case_id and self.mine(c["id"])
                ),
                None,
            )

            def decide_page(n: int, case_id: str = case_id, csrf: str = csrf) -> str:
                answer = self.page(
                    "decide",
                    n,
                    "POST",
                    f"/review/cases/{case_id}/decision",
                    303,
                    data={"csrf_token": csrf, "decision": "approve", "reason": ""},
                )
                return str(answer.headers.get("Location", ""))

            def decide_bare(n: int, other: str | None = other) -> None:
                with self.bare("decide", n) as call:
                    call("review", "POST", f"/cases/{other}/decision", json={"decision": "approve"})

            inbox_path, _ = self.pair(decide_page, decide_bare if other else None)
            if not inbox_path.startswith("/review/inbox"):
                raise Unexpected(f"a decision went to {inbox_path}")

    # -- the whole session --

    def work(self) -> None:
        while True:
            try:
                if self.cfg["role"] == "clerk":
                    while True:
                        self.clerk_round()
                else:
                    self.reviewer_rounds()
            except Over:
                return
            except (Unexpected, requests.RequestException) as exc:
                self.errors.append(f"{self.name}: {exc}")
                if len(self.errors) >= MAX_ERRORS:
                    return
                with contextlib.suppress(Over):
                    self.think()


def _find(pattern: re.Pattern[str], text: str, what: str) -> str:
    found = pattern.search(text)
    if found is None:
        raise Unexpected(f"{what} is not in the answer")
    return found.group(1)


def person_main(cfg: dict[str, Any], ready: Any, go: Any, results: Any) -> None:
    """A simulated person's process: signs in, waits for the start, works until the end."""
    # Ctrl-C reaches the bench, which stops everyone; SIGTERM (from the bench) ends at once.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    person = Person(cfg)
    time.sleep(cfg["signin_delay"])  # one after the other, as people arrive: not a storm
    try:
        person.sign_in()
    except Exception as exc:
        results.put(("error", cfg["name"], f"sign-in: {exc}\n{traceback.format_exc()}"))
        return
    ready.put(cfg["name"])
    if not go.wait(timeout=600):
        return
    person.end = time.monotonic() + cfg["warmup"] + cfg["seconds"]
    try:
        person.work()
    except Exception:
        person.errors.append(f"{cfg['name']}: {traceback.format_exc()}")
    times = os.times()
    results.put(("ok", cfg["name"], person.records, person.errors, times.user + times.system))


# --- the run --------------------------------------------------------------------------------------


@dataclass
class Run:
    records: list[Record] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    measure_from: float = 0.0
    measure_to: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    bench_cpu: float = 0.0
    people: dict[str, int] = field(default_factory=dict)
    machine: float = 0.0  # CPU seconds of the whole machine while measured
    load: tuple[float, float] = (0.0, 0.0)


def people(
    world: World, args: argparse.Namespace, urls: dict[str, str], redis_url: str
) -> list[dict[str, Any]]:
    base = {
        "urls": urls,
        "redis_url": redis_url,
        "think": args.think,
        "warmup": args.warmup,
        "seconds": args.seconds,
        "point": world.point,
        "documents": world.documents,
        "evidence_kb": args.evidence_kb,
        "assets": not args.no_assets,
    }
    cfgs = [
        {**base, "name": f"clerk{i + 1}", "role": "clerk", "username": u}
        for i, u in enumerate(world.clerks)
    ]
    for level, names in (("point", world.point_reviewers), ("s001", world.subcentre_reviewers)):
        cfgs += [
            {**base, "name": f"{level}-reviewer{i + 1}", "role": "reviewer", "username": u,
             "share": i, "share_of": len(names)}
            for i, u in enumerate(names)
        ]  # fmt: skip
    for k, cfg in enumerate(cfgs):
        cfg["seed"] = args.seed * 1000 + k
        cfg["signin_delay"] = k * SIGNIN_SPACING
    return cfgs


def run(
    procs: Processes, cfgs: list[dict[str, Any]], args: argparse.Namespace, children: list[Any]
) -> Run:
    ctx = mp.get_context("spawn")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    result = Run()
    for cfg in cfgs:
        child = ctx.Process(target=person_main, args=(cfg, ready, go, results), daemon=True)
        children.append(child)
        child.start()
    waiting = {cfg["name"] for cfg in cfgs}
    deadline = time.monotonic() + 180
    while waiting:  # every person signed in (or failed to)
        procs.check_alive()
        with contextlib.suppress(queue.Empty):
            waiting.discard(ready.get(timeout=0.5))
        with contextlib.suppress(queue.Empty):
            item = results.get_nowait()
            raise RuntimeError(f"{item[1]}: {item[2]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"not signed in within 180 s: {', '.join(sorted(waiting))}")
    groups = {p.pid: name for name, p in procs.procs.items()}
    started = time.monotonic()
    go.set()
    result.measure_from = started + args.warmup
    time.sleep(max(0.0, result.measure_from - time.monotonic()))
    before, machine = cpu_seconds(groups, {}), machine_cpu()
    load = os.getloadavg()[0]
    reported: set[str] = set()
    deadline = result.measure_from + args.seconds + 120
    while len(reported) < len(cfgs):
        procs.check_alive()
        try:
            item = results.get(timeout=1)
        except queue.Empty:
            if time.monotonic() > deadline:
                missing = sorted({c["name"] for c in cfgs} - reported)
                raise RuntimeError(f"no report from {', '.join(missing)}") from None
            continue
        if item[0] == "error":
            raise RuntimeError(f"{item[1]}: {item[2]}")
        _, name, records, errors, cpu = item
        reported.add(name)
        result.records.extend(Record._make(r) for r in records)
        result.errors.extend(errors)
        result.bench_cpu += cpu
        result.people[name] = sum(1 for r in records if r[1] == "page")
    result.measure_to = time.monotonic()
    after = cpu_seconds(groups, {})
    result.machine = machine_cpu() - machine
    result.load = (load, os.getloadavg()[0])
    result.cpu = {n: after[n] - before.get(n, 0.0) for n in after}
    for child in children:
        child.join(timeout=10)
    return result


# --- the report -----------------------------------------------------------------------------------


def access_times(env: Env) -> tuple[dict[str, float], dict[str, list[tuple[str, str, float]]]]:
    """From the gunicorn access logs: the window's time per request id, and every API call's
    (service, path, seconds) per request id."""
    window: dict[str, float] = {}
    apis: dict[str, list[tuple[str, str, float]]] = {}
    for service in WEB:
        log = env.var_dir / "logs" / f"{service}.log"
        for line in log.read_text(errors="replace").splitlines():
            if "gunicorn.access" not in line:
                continue
            try:
                message = json.loads(line)["message"]
            except (ValueError, KeyError):
                continue
            found = ACCESS_LINE.search(message)
            if not found or not found.group(5).startswith("wb-"):
                continue
            _, path, _, micros, rid = found.groups()
            if service == "window":
                window[rid] = int(micros) / 1e6
            else:
                apis.setdefault(rid, []).append((service, path, int(micros) / 1e6))
    return window, apis


def slug_title(page: Page) -> str:
    return f"{page.who}: {page.label}"


def report(env: Env, result: Run) -> dict[str, float]:
    """The tables; the headline figures returned."""
    measured = [r for r in result.records if r.slug in SIGN_IN or r.started >= result.measure_from]
    views = {p.slug: [r for r in measured if r.slug == p.slug and r.kind == "page"] for p in PAGES}
    twins = {p.slug: [r for r in measured if r.slug == p.slug and r.kind == "bare"] for p in PAGES}
    static = [r for r in measured if r.slug == "static"]
    heads: dict[str, float] = {}

    print()
    print(f"{'':44}{'window page':>36}  {'bare API calls, same token':>34}  {'page / bare':>14}")
    print(
        f"{'page':44}{'views':>8}{'p50 ms':>11}{'p95 ms':>11}{'KB':>6}  "
        f"{'views':>8}{'calls':>6}{'p50 ms':>10}{'p95 ms':>10}  {'p50':>7}{'p95':>7}"
    )
    for page in PAGES:
        v = [r.seconds for r in views[page.slug]]
        b = [r.seconds for r in twins[page.slug]]
        calls = statistics.median([r.calls for r in twins[page.slug]]) if b else 0
        size = statistics.median([r.size for r in views[page.slug]]) / 1024 if v else math.nan
        p50, p95 = percentile(v, 0.5), percentile(v, 0.95)
        b50, b95 = percentile(b, 0.5), percentile(b, 0.95)
        ratio50 = f"{p50 / b50:.1f}x" if b else "-"
        ratio95 = f"{p95 / b95:.1f}x" if b else "-"
        print(
            f"{slug_title(page):44}{len(v):>8}{ms(p50):>11}{ms(p95):>11}{size:>6.1f}  "
            f"{len(b):>8}{calls:>6.0f}{ms(b50):>10}{ms(b95):>10}  {ratio50:>7}{ratio95:>7}"
        )
        heads[f"window_{page.slug}_p50_ms"] = p50 * 1000
        heads[f"window_{page.slug}_p95_ms"] = p95 * 1000
        if b:
            heads[f"window_{page.slug}_bare_p50_ms"] = b50 * 1000
            heads[f"window_{page.slug}_bare_p95_ms"] = b95 * 1000
    if static:
        st = [r.seconds for r in static]
        print(
            f"{'all: GET /static/* (when not fresh)':44}{len(st):>8}"
            f"{ms(percentile(st, 0.5)):>11}{ms(percentile(st, 0.95)):>11}{0.0:>6.1f}"
        )
        heads["window_static_304_p50_ms"] = percentile(st, 0.5) * 1000
    print("\nthe bare calls of each page (the window makes them one after the other, as here):")
    for page in PAGES:
        print(f"  {page.slug:13} {page.bare}")

    # Each page view and its twin (made just before or after it, by the same person).
    paired: dict[tuple[str, int], dict[str, float]] = {}
    for r in measured:
        if r.slug not in SIGN_IN and r.pair > 0:
            paired.setdefault((r.rid.rsplit("-", 1)[0], r.pair), {})[r.kind] = r.seconds
    both = [p for p in paired.values() if "page" in p and "bare" in p and p["bare"] > 0]
    ratios = [p["page"] / p["bare"] for p in both]
    added = [p["page"] - p["bare"] for p in both]

    window_time, api_calls = access_times(env)
    print(
        "\nwhere a page's time goes (p50 ms of each column on its own, from the access logs by "
        "request id):"
    )
    print(
        f"{'page':44}{'at browser':>11}{'in window':>11}{'in APIs':>9}{'calls':>6}"
        f"{'window own':>12}{'outside':>9}   {'bare: in APIs':>13}{'outside':>9}"
    )
    refreshes: list[tuple[float, float]] = []  # (the page's time over its p50, the refresh's)
    for page in PAGES:
        rows = [r for r in views[page.slug] if r.rid in window_time]
        client = [r.seconds for r in rows]
        inside = [window_time[r.rid] for r in rows]
        in_apis = [sum(c[2] for c in api_calls.get(r.rid, [])) for r in rows]
        n_calls = [len(api_calls.get(r.rid, [])) for r in rows]
        usual = percentile(client, 0.5)
        refreshes += [
            (r.seconds - usual, c[2])
            for r in rows
            for c in api_calls.get(r.rid, [])
            if c[1].endswith("/auth/refresh")
        ]
        own = [w - a for w, a in zip(inside, in_apis, strict=True)]
        outside = [c - w for c, w in zip(client, inside, strict=True)]
        bare_rows = twins[page.slug]
        bare_in = [sum(c[2] for c in api_calls.get(r.rid, [])) for r in bare_rows]
        bare_out = [r.seconds - t for r, t in zip(bare_rows, bare_in, strict=True)]
        made = f"{statistics.median(n_calls):.0f}" if n_calls else "-"
        print(
            f"{slug_title(page):44}{ms(percentile(client, 0.5)):>11}"
            f"{ms(percentile(inside, 0.5)):>11}{ms(percentile(in_apis, 0.5)):>9}{made:>6}"
            f"{ms(percentile(own, 0.5)):>12}{ms(percentile(outside, 0.5)):>9}   "
            f"{ms(percentile(bare_in, 0.5)):>13}{ms(percentile(bare_out, 0.5)):>9}"
        )
    print(
        "  at browser: the request as the simulated browser saw it; in window: gunicorn's time "
        "for it in the window;\n  in APIs: the calls it made, by the APIs' own gunicorn times "
        "(summed); window own = in window - in APIs: rendering,\n  the session and tokens in "
        "Redis, the HTTP client, and waiting for a free API worker; outside = at browser -\n"
        "  in window: waiting for a free window worker, connecting, transfer (bare: the same "
        "against the APIs)"
    )
    print(f"  token refreshes (org POST /auth/refresh) made by the pages: {len(refreshes)}", end="")
    if refreshes:
        over = percentile([r[0] for r in refreshes], 0.5)
        print(
            f"; such a page took p50 {ms(over)} ms more than its page's p50, the refresh itself "
            f"(org's time) p50 {ms(percentile([r[1] for r in refreshes], 0.5))} ms"
        )
        heads["window_refresh_added_p50_ms"] = over * 1000
    else:
        print()

    seconds = result.measure_to - result.measure_from
    pages = sum(1 for r in measured if r.kind == "page" and r.slug not in (*SIGN_IN, "static"))
    window_cpu = result.cpu.get("window", 0.0)
    print(
        f"\nCPU during the measured {seconds:.0f} s (this machine: {os.cpu_count()} cores; "
        f"{pages} page views, {pages / seconds:.1f}/s, {len(static)} static requests, "
        "and the bare twins)"
    )
    print(f"{'':44}{'seconds':>10}{'cores':>8}")
    order = sorted(
        result.cpu, key=lambda n: (n != "window", n.startswith(("postgres", "redis")), n)
    )
    for name in order:
        print(f"  {name:42}{result.cpu[name]:>10.1f}{result.cpu[name] / seconds:>8.2f}")
    ours = sum(result.cpu.values())
    print(f"  {'all of the above':42}{ours:>10.1f}{ours / seconds:>8.2f}")
    machine = result.machine
    print(f"  {'the whole machine (every user of it)':42}{machine:>10.1f}{machine / seconds:>8.2f}")
    print(f"  {'bench: simulated people (whole run)':42}{result.bench_cpu:>10.1f}")
    print(f"  window CPU per page view: {window_cpu / max(pages, 1) * 1000:.1f} ms")
    print(f"  load average at the start / end: {result.load[0]:.2f} / {result.load[1]:.2f}")
    for error in result.errors[:10]:
        print(f"  ERROR {error}")

    heads["window_overhead_p50_ratio"] = statistics.median(ratios) if ratios else math.nan
    heads["window_overhead_p50_ms"] = statistics.median(added) * 1000 if added else math.nan
    heads["window_pages_per_s"] = pages / seconds
    heads["window_cpu_ms_per_page"] = window_cpu / max(pages, 1) * 1000
    heads["window_cpu_cores"] = window_cpu / seconds
    heads["machine_busy_cores"] = result.machine / seconds
    heads["window_token_refreshes"] = len(refreshes)
    heads["window_errors"] = len(result.errors)
    return heads


def machine_cpu() -> float:
    """CPU seconds the whole machine has spent busy since boot (every user of it)."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(values) - values[3] - values[4]) / CLOCK_TICKS  # all but idle and iowait


# --- main -----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clerks", type=int, default=4, help="simulated window clerks")
    parser.add_argument(
        "--reviewers",
        type=int,
        default=2,
        help="simulated reviewers, at the point and at S001 in turn (the point first)",
    )
    parser.add_argument("--seconds", type=float, default=60, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=5, help="seconds of work not measured")
    parser.add_argument(
        "--think", type=float, default=0.5, help="mean pause of a person between pages, seconds"
    )
    parser.add_argument("--learners", type=int, default=20, help="learning accounts opened")
    parser.add_argument("--evidence-kb", type=int, default=200, help="size of each scan")
    parser.add_argument("--window-workers", type=int, default=3, help="gunicorn workers, window")
    parser.add_argument(
        "--api-workers", type=int, default=2, help="gunicorn workers per API service"
    )
    parser.add_argument(
        "--token-ttl",
        type=int,
        default=900,
        help="access tokens' lifetime, seconds (the deployment's 900 by default; the window "
        "refreshes a token with under 60 s left)",
    )
    parser.add_argument(
        "--no-assets",
        action="store_true",
        help="no revalidation of the style sheets and scripts after each page",
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.clerks < 1 or args.reviewers < 0 or args.learners < 1 or args.learners > 999:
        parser.error("at least one clerk and one learner (999 at most), no negative reviewers")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    exit_on_sigterm()
    ports = {service: free_port() for service in WEB}
    urls = {service: f"http://127.0.0.1:{port}" for service, port in ports.items()}
    env = Env("bench_window", DATABASES)
    procs = Processes(env)
    children: list[Any] = []
    failed = True
    try:
        setup(env, urls, args.token_ttl)
        start_system(procs, ports, args, env.redis_url)
        world = prepare(urls, args)
        cfgs = people(world, args, urls, env.redis_url)
        print(
            f"window pages: {args.clerks} clerk(s) at {world.point} (under {SUBCENTRE}), "
            f"{len(world.point_reviewers)} reviewer(s) at the point, "
            f"{len(world.subcentre_reviewers)} at {SUBCENTRE}; {args.learners} learning accounts"
        )
        print(
            f"processes: gunicorn (deploy/gunicorn.conf.py, sync workers): window "
            f"{args.window_workers} workers, org/intake/review/notify {args.api_workers} each; "
            "relays org/intake/review; one Celery worker per service (solo pool)"
        )
        print(
            f"load: each person a process with its own session, signed in through /login; "
            f"pauses of {args.think:g} s on average between pages; {args.warmup:g} s of warm-up, "
            f"then {args.seconds:g} s measured; every page view with its bare API twin "
            f"(same token, plain HTTP session) just before or after it, in turn; "
            + ("" if args.no_assets else "static files fetched as a browser caches them; ")
            + f"access tokens live {args.token_ttl} s",
            flush=True,
        )
        result = run(procs, cfgs, args, children)
        heads = report(env, result)
        print()
        for name, value in heads.items():
            print(f"{name}: {value:.1f}" if isinstance(value, float) else f"{name}: {value}")
        failed = bool(result.errors)
    finally:
        for child in children:
            if child.is_alive():
                child.terminate()
        for child in children:
            child.join(timeout=10)
        if failed:
            print_log_tails(env)
        procs.stop_all()
        env.remove()
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
