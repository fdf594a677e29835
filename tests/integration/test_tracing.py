"""One application followed through the running system by its traces: intake's and review's
gunicorn, their relays and the review, intake and notify workers as real processes, each
exporting over OTLP/HTTP (``CB_OTLP_ENDPOINT``) to a receiver this module runs on loopback.

The learner's account is opened and a deposit taken over intake's API; reviewers decide over
review's. Each request a person makes starts a trace of its own, which runs through every
message it causes: the deposit's to the case opened at the point, the point's decision's to
the case opened at the sub-centre, the sub-centre's to the ledger and the SMS. A decision's
trace links to the trace that opened its case, so the application is followed from one to
the next."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.cookiejar import CookieJar
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import redis
from sqlalchemy import text

from tests.factories import PDF, REVIEW_TABLES, TokenFactory, Window, reset_intake_tables
from tests.helpers import ROOT, QuietHandler, free_port, wait_for
from tests.otlp import Collector, Span, receiving

pytestmark = [pytest.mark.integration, pytest.mark.slow]
LEARNER = {"name": "柳如烟", "phone": "13912345678", "email": "liu.ruyan@example.cn"}
POINT = ("AP000001", "/ZJ/B01/S001/AP000001/", "acceptance_point")
SUBCENTRE = ("S001", "/ZJ/B01/S001/", "subcentre")


class System:
    """The processes, each a process group with its log in ``logs/<name>.log``."""

    def __init__(self, logs: Path, env: dict[str, str]) -> None:
        self.logs, self.env = logs, env
        logs.mkdir(exist_ok=True)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.ports: dict[str, int] = {}

    def start(self, name: str, argv: list[str]) -> None:
        with (self.logs / f"{name}.log").open("wb") as log:
            self.procs[name] = subprocess.Popen(
                argv, cwd=ROOT, env=self.env, stdout=log, stderr=log, start_new_session=True
            )

    def web(self, service: str) -> None:
        port = self.ports[service] = free_port()
        self.start(
            service,
            [
                *(sys.executable, "-m", "gunicorn", "--config", "deploy/gunicorn.conf.py"),
                *("--bind", f"127.0.0.1:{port}", f"services.{service}.app:create_app()"),
            ],
        )

    def worker(self, service: str, queues: str) -> None:
        self.start(
            f"{service}-worker",
            [
                *(sys.executable, "-m", "celery", "-A", f"services.{service}.worker", "worker"),
                *("-Q", queues, "-n", f"trace-{service}@%h", "--concurrency", "1"),
                *("--loglevel", "INFO", "--without-mingle", "--without-gossip"),
            ],
        )

    def relay(self, service: str) -> None:
        self.start(f"{service}-relay", [sys.executable, "-m", "shared.relay", "--service", service])

    def wait_healthy(self, service: str) -> None:
        wait_for(lambda: http(self.ports[service], "GET", "/healthz", {})[0] == 200, 60, 0.2)

    def log_lines(self, name: str) -> list[str]:
        return (self.logs / f"{name}.log").read_text(errors="replace").splitlines()

    def close(self) -> None:
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # whatever the group left (a pool child)


def http(port: int, method: str, path: str, headers: dict[str, str], body: Any = None) -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={**headers, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read() or b"null"), answer.headers
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null"), exc.headers
    except OSError:
        return 0, None, {}


@dataclass
class Followed:
    """What the flow left: its traces by the request that started each, the spans, the logs."""

    collector: Collector
    system: System
    application_id: str
    traces: dict[str, str]
    document_number: str


def _prepare(intake_app: Any, run_env: dict[str, str]) -> None:
    """Empty intake and review (their route table seeded), nothing waiting in any outbox or
    queue: the traces looked at are this flow's alone."""
    from services.review.context import worker_db
    from services.review.routing import seed_routes
    from shared.db import make_engine
    from shared.settings import load_settings

    with intake_app.app_context():
        reset_intake_tables()
    with worker_db().transaction() as session:
        session.execute(text(f"TRUNCATE {REVIEW_TABLES}"))
        seed_routes(session)
    for service in ("org", "intake", "review", "notify"):
        engine = make_engine(load_settings(service).database_url)
        with engine.begin() as conn:
            conn.execute(text("UPDATE outbox SET sent_at = now() WHERE sent_at IS NULL"))
        engine.dispose()
    redis.Redis.from_url(run_env["CB_REDIS_URL"]).flushdb()


def _decide_when_open(port: int, reviewer: dict[str, str], application_id: str) -> str:
    """The reviewer's decision (approve) once the case is in their inbox; its trace id."""

    def case() -> str | None:
        status, page, _ = http(port, "GET", "/api/v1/inbox?per_page=100", reviewer)
        items = page["items"] if status == 200 else []
        return next((c["id"] for c in items if c["application_id"] == application_id), None)

    case_id = wait_for(case, timeout=30, interval=0.2)
    status, body, headers = http(
        port, "POST", f"/api/v1/cases/{case_id}/decision", reviewer, {"decision": "approve"}
    )
    assert status == 200, body
    return str(headers["traceresponse"]).split("-")[1]


def _status(port: int, window: dict[str, str], application_id: str) -> dict[str, Any]:
    status, body, _ = http(port, "GET", f"/api/v1/applications/{application_id}", window)
    return body if status == 200 else {}


@pytest.fixture(scope="module")
def followed(intake_app: Any, run_env: dict[str, str], var_dir: Path) -> Iterator[Followed]:
    _prepare(intake_app, run_env)
    with receiving() as collector:
        system = System(var_dir / "logs-tracing", traced_env(run_env, collector))
        try:
            for service in ("intake", "review"):
                system.web(service)
                system.relay(service)
            system.worker("review", "review.acceptance_point,review.subcentre")
            system.worker("intake", "intake")
            system.worker("notify", "notify")
            for service in ("intake", "review"):
                system.wait_healthy(service)
            yield _follow(collector, system, intake_app, var_dir)
        finally:
            system.close()


def traced_env(run_env: dict[str, str], collector: Collector, **more: str) -> dict[str, str]:
    return {
        **os.environ,
        **run_env,
        "CB_OTLP_ENDPOINT": collector.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # ms: spans reach the receiver soon after they end
        "CB_LOG_LEVEL": "INFO",
        "CB_WEB_WORKERS": "1",
        **more,
    }


def _follow(collector: Collector, system: System, intake_app: Any, var_dir: Path) -> Followed:
    intake, review = system.ports["intake"], system.ports["review"]
    window_staff = Window(intake_app.test_client(), var_dir)
    window = window_staff.token()
    tokens = TokenFactory(var_dir)
    point, subcentre = tokens.make(*POINT), tokens.make(*SUBCENTRE)
    learner = window_staff.learner(**LEARNER)
    traces: dict[str, str] = {}

    status, opening, headers = http(intake, "POST", "/api/v1/accounts", window, learner)
    assert status == 201, opening
    traces["opening"] = str(headers["traceresponse"]).split("-")[1]
    traces["opening approved"] = _decide_when_open(review, point, opening["id"])
    account = wait_for(lambda: _status(intake, window, opening["id"]).get("account_number"), 30)
    # A search whose query string carries personal data: what a URL's attribute must lose.
    http(intake, "GET", f"/api/v1/applications?name={quote(learner['name'])}", window)
    with intake_app.app_context():
        evidence = window_staff.upload(window, PDF)
    deposit = window_staff.deposit_body(account, [evidence])
    status, body, headers = http(intake, "POST", "/api/v1/applications", window, deposit)
    assert status == 201, body
    application_id = body["id"]
    traces["deposit"] = str(headers["traceresponse"]).split("-")[1]
    traces["point approved"] = _decide_when_open(review, point, application_id)
    traces["subcentre approved"] = _decide_when_open(review, subcentre, application_id)
    wait_for(lambda: _status(intake, window, application_id).get("status") == "approved", 30)
    followed = Followed(collector, system, application_id, traces, learner["document_number"])
    # Every hop of the last trace has reached the receiver (the SMS sent), and every span of
    # each trace (the order spans arrive in is the order they end, across processes).
    wait_for(lambda: _complete(collector.trace(traces["subcentre approved"])), 30, 0.2)
    for trace_id in traces.values():
        wait_for(lambda t=trace_id: _unbroken(collector.trace(t)), 30, 0.2)
    return followed


def _complete(spans: list[Span]) -> bool:
    hops = {(s.service, s.process) for s in spans}
    ids = {s.id for s in spans}
    parents_known = all(s.parent in ids for s in spans if s.parent)
    return parents_known and {("cb-notify", "worker"), ("cb-intake", "relay")} <= hops


def hops(spans: list[Span]) -> set[tuple[str, str, str]]:
    """(service, process, span name) of the spans that are not SQL or Redis calls."""
    return {
        (s.service, s.process, s.name)
        for s in spans
        if "db.system" not in s.attributes and "db.system.name" not in s.attributes
    }


def test_each_request_is_one_unbroken_trace_through_every_hop_it_causes(
    followed: Followed,
) -> None:
    collector, traces = followed.collector, followed.traces
    assert all(_unbroken(collector.trace(t)) for t in traces.values())
    deposit = collector.trace(traces["deposit"])
    assert {
        ("cb-intake", "web", "POST /api/v1/applications"),
        ("cb-intake", "relay", "publish review.open_case"),
        ("cb-review", "worker", "run/review.open_case"),
    } <= hops(deposit)
    final = collector.trace(traces["subcentre approved"])
    assert {
        ("cb-review", "web", "POST /api/v1/cases/<uuid:case_id>/decision"),
        ("cb-review", "relay", "publish intake.apply_decision"),
        ("cb-intake", "worker", "run/intake.apply_decision"),
        ("cb-intake", "relay", "publish notify.deliver"),
        ("cb-notify", "worker", "run/notify.deliver"),
    } <= hops(final)
    point = collector.trace(traces["point approved"])
    assert ("cb-review", "worker", "run/review.open_case") in hops(point)  # the sub-centre's
    for spans in (deposit, point, final):
        for hop in (s for s in spans if s.kind_of_hop):
            if hop.process == "relay":
                # A relay's Redis MULTI inside its batch's span, which links to each row's.
                calls = {c.attributes.get("db.system") for c in batch_calls(collector, hop)}
                assert "redis" in calls, hop
            else:  # a web app's or a worker's SQL inside its span
                calls = {c.attributes.get("db.system") for c in descendants(spans, hop)}
                assert "postgresql" in calls, hop
        named = {s.attributes.get("cb.application_id") for s in spans} - {None}
        assert named == {followed.application_id}


def batch_calls(collector: Collector, published: Span) -> list[Span]:
    """The calls inside the span of the relay's batch that published ``published``: a batch
    goes to Redis in one round trip, a span of its own linked to each row's publish span."""
    with collector.lock:
        spans = list(collector.spans)
    (batch,) = [s for s in spans if (published.trace, published.id) in s.links]
    assert batch.name == "send outbox batch" and batch.process == "relay"
    return descendants(collector.trace(batch.trace), batch)


def descendants(spans: list[Span], ancestor: Span) -> list[Span]:
    children: dict[str, list[Span]] = {}
    for s in spans:
        children.setdefault(s.parent, []).append(s)
    found, todo = [], list(children.get(ancestor.id, []))
    while todo:
        span = todo.pop()
        found.append(span)
        todo.extend(children.get(span.id, []))
    return found


def _unbroken(spans: list[Span]) -> bool:
    """One root, and every other span's parent in the trace."""
    ids = {s.id for s in spans}
    roots = [s for s in spans if not s.parent]
    return len(roots) == 1 and all(s.parent in ids for s in spans if s.parent)


def test_a_decisions_trace_links_to_the_trace_that_opened_its_case(followed: Followed) -> None:
    collector, traces = followed.collector, followed.traces

    def linked_from(decision: str) -> set[str]:
        return {t for s in collector.trace(traces[decision]) for t, _ in s.links}

    assert linked_from("point approved") == {traces["deposit"]}
    assert linked_from("subcentre approved") == {traces["point approved"]}
    assert linked_from("opening approved") == {traces["opening"]}
    # The linked span is the one that opened the case, in the trace before.
    (link,) = {link for s in collector.trace(traces["point approved"]) for link in s.links}
    opened = next(s for s in collector.trace(traces["deposit"]) if s.id == link[1])
    assert opened.name == "run/review.open_case"


def test_the_web_apps_and_workers_log_the_trace_they_work_for(followed: Followed) -> None:
    """A relay writes no line inside a span (one a batch, at INFO), so it has none to show."""
    system, traces = followed.system, followed.traces

    def lines_of(name: str, trace_id: str) -> list[str]:
        return [line for line in system.log_lines(name) if trace_id in line]

    final = traces["subcentre approved"]
    assert lines_of("review", final)  # gunicorn's access line (its traceresponse)
    for worker in ("intake-worker", "notify-worker"):
        found = [json.loads(x) for x in lines_of(worker, final) if x.startswith("{")]
        assert any(x.get("trace_id") == final and x.get("span_id") for x in found), worker
    opened = [json.loads(x) for x in lines_of("review-worker", traces["deposit"])]
    assert any(x.get("message") == "case opened" for x in opened)
    assert lines_of("intake", traces["deposit"])


def test_no_span_holds_the_learners_personal_data(followed: Followed) -> None:
    with followed.collector.lock:
        spans = list(followed.collector.spans)
    secrets = {*LEARNER.values(), followed.document_number, quote(LEARNER["name"])}
    assert len({s.service for s in spans}) == 3  # intake, review, notify: all of them read
    for span in spans:
        written = json.dumps([span.name, span.attributes], ensure_ascii=False)
        for secret in secrets:
            assert secret not in written, (span.service, span.name)
    (searched,) = [s for s in spans if s.name == "GET /api/v1/applications"]
    assert searched.attributes["http.target"] == "/api/v1/applications"  # its query: gone


class _Org(QuietHandler):
    """Org's sign-in, refusing everyone: what the window's call carried is kept."""

    def do_POST(self) -> None:
        self.server.calls.append(dict(self.headers))  # type: ignore[attr-defined]
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps({"status": 401, "title": "Unauthorized", "detail": "用户名或密码错误"})
        self.send_response(401)
        self.send_header("Content-Type", "application/problem+json")
        self.send_header("Content-Length", str(len(body.encode())))
        self.end_headers()
        self.wfile.write(body.encode())


@pytest.fixture
def window_signing_in(run_env: dict[str, str], var_dir: Path) -> Iterator[Any]:
    """The window under gunicorn, tracing, with org's place taken by a stand-in server."""
    org = ThreadingHTTPServer(("127.0.0.1", 0), _Org)
    org.calls = []  # type: ignore[attr-defined]
    threading.Thread(target=org.serve_forever, daemon=True).start()
    with receiving() as collector:
        org_url = f"http://127.0.0.1:{org.server_address[1]}"
        env = traced_env(run_env, collector, CB_ORG_URL=org_url)
        system = System(var_dir / "logs-tracing-window", env)
        try:
            system.web("window")
            system.wait_healthy("window")
            yield collector, system.ports["window"], org.calls
        finally:
            system.close()
            org.shutdown()
            org.server_close()


def test_the_windows_calls_to_the_apis_carry_its_trace(window_signing_in: Any) -> None:
    collector, port, calls = window_signing_in
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    page = browser.open(f"http://127.0.0.1:{port}/login", timeout=10).read().decode()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf, "no CSRF field on the sign-in page"
    form = {"username": "clerk", "password": "s3cret-Pass-word", "csrf_token": csrf.group(1)}
    with pytest.raises(urllib.error.HTTPError) as refused:
        browser.open(
            f"http://127.0.0.1:{port}/login", urllib.parse.urlencode(form).encode(), timeout=10
        )
    assert refused.value.code == 401
    (call,) = calls
    trace_id, client_span = call["traceparent"].split("-")[1:3]

    def spans() -> list[Span]:
        found = collector.trace(trace_id)
        return found if len(found) >= 2 and any(not s.parent for s in found) else []

    found = wait_for(spans, 30, 0.2)
    (root,) = [s for s in found if not s.parent]
    assert (root.service, root.name) == ("cb-window", "POST /login")
    (client,) = [s for s in found if s.id == client_span]
    assert client.parent == root.id and client.attributes["http.url"].endswith("/auth/token")
    assert all("s3cret-Pass-word" not in json.dumps(s.attributes) for s in found)
