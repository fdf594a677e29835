"""`make run`'s script starts the whole system under honcho, and Ctrl-C stops all of it."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import urllib.error
import urllib.request

import pytest

from tests.factories import ORG_TABLES
from tests.helpers import ROOT, wait_for

pytestmark = pytest.mark.slow
PORTS = {"org": 8001, "intake": 8002, "review": 8003, "notify": 8004}
EXPORTER = 9800  # the metrics exporter (shared/metrics_exporter.py)


def in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def get(url: str, headers: dict[str, str] | None = None, data: bytes | None = None):
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=3) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


@pytest.fixture
def system(run_env, var_dir):
    if any(in_use(p) for p in [*PORTS.values(), 5555, EXPORTER]):
        pytest.skip("a service port is taken (is `make run` already running here?)")
    from sqlalchemy import text

    from services.org.context import worker_db

    with worker_db().transaction() as session:  # a fresh system: what make run meets first
        session.execute(text(f"TRUNCATE {ORG_TABLES} RESTART IDENTITY CASCADE"))
        session.execute(text("ALTER SEQUENCE acceptance_point_code_seq RESTART"))
    env = {
        **os.environ,
        **run_env,
        "CB_ADMIN_USERNAME": "first-admin",
        "CB_ADMIN_PASSWORD": "first-admin-pw1",
        "CB_FLOWER_USER": "ops",
        "CB_FLOWER_PASSWORD": "flower-pw",
        "CB_WEB_WORKERS": "1",
        "CB_LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen(
        [str(ROOT / "deploy" / "run.sh")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    yield proc
    if proc.poll() is None:
        # honcho starts each process in a session of its own: killing run.sh's group alone
        # would leave them running (holding the ports) once the test failed or timed out.
        for pid in [proc.pid, *descendants(proc.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait()


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, from /proc (children first found, then theirs)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, queue = [], list(children.get(pid, []))
    while queue:
        child = queue.pop()
        found.append(child)
        queue.extend(children.get(child, []))
    return found


def call(
    method: str, path: str, token: str | None = None, body: dict | None = None, port: int = 8001
):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1{path}",
        method=method,
        data=json.dumps(body).encode() if body else None,
        headers=headers,
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def sign_in(username: str, password: str) -> str:
    status, body = call("POST", "/auth/token", body={"username": username, "password": password})
    assert status == 200, body
    return body["access_token"]


def bring_a_point_to_life(admin: str) -> str:
    """The README's walk-through, over HTTP against the running system."""
    for name, role in (("sc-bureau", "bureau"), ("sc-manager", "management")):
        status, body = call(
            "POST",
            "/staff",
            admin,
            {
                "username": name,
                "display_name": name,
                "unit_code": "S001",
                "roles": [role],
                "password": "staff-pass-12",
            },
        )
        assert status == 201, body
    bureau, manager = sign_in("sc-bureau", "staff-pass-12"), sign_in("sc-manager", "staff-pass-12")
    status, point = call(
        "POST",
        "/acceptance-points",
        bureau,
        {
            "name": "小营街道社区学校",
            "parent_code": "S001",
            "point_kind": "community_school",
            "point_tier": "township",
        },
    )
    assert status == 201 and point["state"] == "LISTED", point
    code = point["code"]
    status, body = call("POST", f"/acceptance-points/{code}/start", manager)
    assert status in (403, 409)
    status, allocation = call(
        "POST",
        f"/acceptance-points/{code}/allocation",
        manager,
        {"admin_username": "xy-admin", "admin_display_name": "小营"},
    )
    assert status == 201, allocation
    status, body = call(
        "POST",
        "/activation",
        body={
            "username": "xy-admin",
            "activation_code": allocation["activation_code"],
            "password": "point-pass-12",
        },
    )
    assert status == 200 and body["state"] == "ACTIVE", body
    point_admin = sign_in("xy-admin", "point-pass-12")
    status, body = call("POST", f"/acceptance-points/{code}/start", point_admin)
    assert status == 409 and body["current_state"] == "ACTIVE"
    for role in ("management", "technical", "service"):
        status, body = call(
            "POST",
            "/staff",
            point_admin,
            {
                "username": f"xy-{role}",
                "display_name": role,
                "unit_code": code,
                "roles": [role],
                "password": "staff-pass-12",
            },
        )
        assert status == 201, body
    status, body = call(
        "PUT",
        f"/acceptance-points/{code}/window",
        point_admin,
        {"address": "杭州市上城区小营街道", "opening_hours": "周一至周五 9:00-17:00"},
    )
    assert status == 200, body
    status, body = call("POST", f"/acceptance-points/{code}/start", point_admin)
    assert status == 200 and body["state"] == "OPERATING", body
    return code


def open_an_account_at_the_window(review_url: str) -> None:
    """The point's service staff (a token from org) take an opening at intake; intake's relay
    hands it to review's first queue, whose worker opens the case for the point itself."""
    from shared.identity import check_character

    window = sign_in("xy-service", "staff-pass-12")
    first17 = "33010219850615123"
    status, body = call(
        "POST",
        "/accounts",
        window,
        {
            "document_type": "resident_id",
            "document_number": first17 + check_character(first17),
            "name": "李四",
            "phone": "13912345678",
            "verification_method": "card_reader",
        },
        port=8002,
    )
    assert status == 201 and body["handoff"] == "queued", body
    assert body["learner"]["document_number"].startswith("3301**")
    from sqlalchemy import create_engine, text

    engine = create_engine(review_url)

    def case_opened() -> list:
        with engine.connect() as conn:
            sql = "SELECT level, unit_code, top_level FROM cases WHERE application_id = :id"
            return conn.execute(text(sql), {"id": body["id"]}).all()

    rows = wait_for(case_opened, timeout=30)
    engine.dispose()
    assert [tuple(r) for r in rows] == [("acceptance_point", "AP000001", "acceptance_point")]
    # The provincial centre sees it in the backlog, and the route table make run seeded.
    admin = sign_in("first-admin", "first-admin-pw1")
    status, backlog = call("GET", "/backlog", admin, port=8003)
    assert status == 200, backlog
    assert [(u["level"], u["unit_code"], u["pending"]) for u in backlog["units"]] == [
        ("acceptance_point", "AP000001", 1)
    ]
    status, routes = call("GET", "/routes", admin, port=8003)
    assert status == 200 and routes["version"] == 1, routes


def test_whole_system_runs_and_stops(system) -> None:
    for name, port in PORTS.items():
        wait_for(
            lambda port=port: get(f"http://127.0.0.1:{port}/readyz")[0] == 200,
            timeout=90,
            interval=0.5,
        )
        status, body = get(f"http://127.0.0.1:{port}/openapi.json")
        assert status == 200 and json.loads(body)["info"]["title"].endswith(f"{name} service")
    status, body = get(
        "http://127.0.0.1:8001/api/v1/auth/token",
        {"Content-Type": "application/json"},
        json.dumps({"username": "first-admin", "password": "first-admin-pw1"}).encode(),
    )
    assert status == 200, body
    token = json.loads(body)["access_token"]
    status, body = get(
        "http://127.0.0.1:8001/api/v1/units?level=branch", {"Authorization": f"Bearer {token}"}
    )
    assert status == 200 and json.loads(body)["total"] == 11
    wait_for(lambda: get("http://127.0.0.1:5555/healthcheck")[0] != 0, timeout=60, interval=0.5)
    assert get("http://127.0.0.1:5555/api/workers")[0] == 401
    auth = {"Authorization": "Basic " + base64.b64encode(b"ops:flower-pw").decode()}
    status, _ = get("http://127.0.0.1:5555/api/workers", auth)
    assert status == 200
    status, body = get("http://127.0.0.1:5555/api/queues/length", auth)
    assert status == 200
    from shared.queues import QUEUES

    listed = {q["name"] for q in json.loads(body)["active_queues"]}
    assert listed >= set(QUEUES)  # every level's backlog is visible, consumed or not
    status, body = get("http://127.0.0.1:8003/metrics")
    assert status == 200 and b'endpoint="/readyz"' in body
    status, body = get(f"http://127.0.0.1:{EXPORTER}/metrics")
    assert status == 200 and b'cb_queue_messages{queue="review.province"}' in body
    system.send_signal(signal.SIGINT)  # what Ctrl-C sends to the foreground process
    system.wait(timeout=60)
    output = system.stdout.read().decode(errors="replace")
    assert "http://127.0.0.1:5555" in output and "first-admin" in output
    for port in [*PORTS.values(), 5555, EXPORTER]:
        wait_for(lambda port=port: not in_use(port), timeout=20)
