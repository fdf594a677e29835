"""Org, intake and review together, with their relays and real workers on real Redis: a point
brought to OPERATING, an account opened and approved, a social-training deposit approved at
the point and the sub-centre and posted to the ledger; a return and resubmission; a rejection.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text

from tests.factories import PASSWORD, PDF, REVIEW_TABLES, World, resident_id
from tests.helpers import Relay, running_worker, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]
QUEUES = [
    "review.acceptance_point",
    "review.subcentre",
    "review.branch",
    "review.province",
    "intake",
    "intake.imports",
    "notify",
]


@pytest.fixture
def system(clean_org, clean_intake, org_app, intake_app) -> Iterator[dict[str, Any]]:
    """Org with its tree and nothing else, intake empty (whatever tests ran before left their
    rows: these flows start from none), review with its route table, as make run's bootstrap
    leaves them; then the relays and one worker on every queue."""
    # Registers intake's and notify's tasks on the worker's app.
    import services.intake.tasks
    import services.notify.tasks  # noqa: F401
    from services.notify.app import create_app as notify_app
    from services.review.app import create_app as review_app
    from services.review.context import worker_db
    from services.review.routing import seed_routes
    from services.review.worker import celery

    with worker_db().transaction() as session:  # as make run's bootstrap does
        session.execute(text(f"TRUNCATE {REVIEW_TABLES}"))
        seed_routes(session)
    intake = intake_app.test_client()
    relays = [Relay("intake").start(), Relay("review").start()]
    try:
        with (
            running_worker(celery, QUEUES),
            org_app.app_context(),
        ):
            yield {
                "org": World(org_app.test_client()),
                "intake": intake,
                "review": review_app().test_client(),
                "notify": notify_app().test_client(),
            }
    finally:
        for relay in relays:
            relay.close()


def staff(world: World, admin_headers: dict, code: str, name: str, role: str) -> dict[str, str]:
    r = world.client.post(
        "/api/v1/staff",
        headers=admin_headers,
        json={
            "username": name,
            "display_name": name,
            "unit_code": code,
            "roles": [role],
            "password": PASSWORD,
        },
    )
    assert r.status_code == 201, r.json
    return world.login(name).headers


def decide_when_visible(
    review: FlaskClient,
    headers: dict,
    application_id: str,
    decision: str,
    reason: str | None = None,
) -> None:
    def case() -> str | None:
        items = review.get("/api/v1/inbox?per_page=100", headers=headers).json["items"]
        return next((c["id"] for c in items if c["application_id"] == application_id), None)

    case_id = wait_for(case, timeout=30)
    body = {"decision": decision, **({"reason": reason} if reason else {})}
    r = review.post(f"/api/v1/cases/{case_id}/decision", headers=headers, json=body)
    assert r.status_code == 200, r.json


def messages_sent(run_env: dict[str, str]) -> list[str]:
    """Every message any service sent (each leaves through its outbox, sent or not) and every
    message still on a queue in Redis, as text (a Celery message's body decoded)."""
    import base64
    import json

    import psycopg
    import redis

    texts = []
    for service in ("org", "intake", "review", "notify"):
        url = run_env[f"CB_{service.upper()}_DATABASE_URL"].replace("+psycopg", "")
        with psycopg.connect(url) as conn:
            texts += [json.dumps(p, ensure_ascii=False) for (p,) in conn.execute(
                "SELECT payload FROM outbox")]  # fmt: skip
    client = redis.Redis.from_url(run_env["CB_REDIS_URL"])
    for queue in QUEUES:
        for raw in client.lrange(queue, 0, -1):
            message = json.loads(raw)
            texts.append(base64.b64decode(message["body"]).decode("utf-8"))
    return texts


def assert_no_personal_data(texts: list[str], secrets: set[str]) -> None:
    assert texts, "no message was looked at"
    for text_ in texts:
        for secret in secrets:
            assert secret not in text_, "a name, ID or phone number in clear in a message"


def status_of(intake: FlaskClient, headers: dict, application_id: str) -> dict:
    return intake.get(f"/api/v1/applications/{application_id}", headers=headers).json


def test_from_window_to_ledger(system, var_dir, run_env) -> None:
    world, intake, review = system["org"], system["intake"], system["review"]
    code, admin = world.operating_point("S001")
    window = world.login(f"{code.lower()}-service").headers  # OPERATING now in its token
    point_reviewer = staff(world, admin.headers, code, "ap-reviewer", "reviewer")
    subcentre_reviewer = world.staff("S001", ["reviewer"], "s001-reviewer").headers

    document = resident_id()
    r = intake.post(
        "/api/v1/accounts",
        headers=window,
        json={
            "document_type": "resident_id",
            "document_number": document,
            "name": "王五",
            "phone": "13700001111",
            "verification_method": "card_reader",
        },
    )
    assert r.status_code == 201, r.json
    opening = r.json["id"]
    decide_when_visible(review, point_reviewer, opening, "approve")
    account = wait_for(lambda: status_of(intake, window, opening)["account_number"], timeout=30)

    sha = intake.post(
        "/api/v1/attachments",
        headers=window,
        data={"file": (__import__("io").BytesIO(PDF), "cert.pdf")},
        content_type="multipart/form-data",
    ).json["sha256"]
    training = {
        "organiser": "杭州市职业技能培训中心",
        "programme": "电工初级培训",
        "hours": "48",
        "start_date": "2026-03-01",
        "end_date": "2026-03-20",
        "certificate_number": "PX20260001",
    }

    def deposit(**outcome: Any) -> str:
        r = intake.post(
            "/api/v1/applications",
            headers=window,
            json={
                "account_number": account,
                "outcome_kind": "social_training",
                "outcome": {**training, **outcome},
                "attachments": [sha],
            },
        )
        assert r.status_code == 201, r.json
        return r.json["id"]

    approved = deposit()
    decide_when_visible(review, point_reviewer, approved, "approve")
    decide_when_visible(review, subcentre_reviewer, approved, "approve")
    wait_for(lambda: status_of(intake, window, approved)["status"] == "approved", timeout=30)
    balances = intake.get(f"/api/v1/accounts/{account}", headers=window).json["balances"]
    assert balances == [
        {"outcome_kind": "social_training", "credits": "0.00", "hours": "48.00", "entries": 1}
    ]
    timeline = status_of(intake, window, approved)["timeline"]
    assert [(e["type"], e["level"]) for e in timeline] == [
        ("taken", None),
        ("passed_up", "acceptance_point"),
        ("approved", "subcentre"),
    ]

    corrected = deposit(hours="400", certificate_number="PX20260002")
    decide_when_visible(review, point_reviewer, corrected, "return", "学时与证书不符")
    wait_for(lambda: status_of(intake, window, corrected)["status"] == "returned", timeout=30)
    r = intake.post(
        f"/api/v1/applications/{corrected}/resubmit",
        headers=window,
        json={
            "outcome_kind": "social_training",
            "attachments": [sha],
            "outcome": {**training, "hours": "40", "certificate_number": "PX20260002"},
        },
    )
    assert r.status_code == 200 and r.json["round"] == 2, r.json
    decide_when_visible(review, point_reviewer, corrected, "approve")
    decide_when_visible(review, subcentre_reviewer, corrected, "approve")
    wait_for(lambda: status_of(intake, window, corrected)["status"] == "approved", timeout=30)

    refused = deposit(certificate_number="PX20260003")
    decide_when_visible(review, point_reviewer, refused, "reject", "证书无法核验")
    wait_for(lambda: status_of(intake, window, refused)["status"] == "rejected", timeout=30)

    ledger = intake.get(f"/api/v1/accounts/{account}/ledger", headers=window).json
    assert [e["hours"] for e in ledger["items"]] == ["48.00", "40.00"]

    # Notify told everyone of each round's end: the learner by SMS (the file provider of
    # local runs, the number masked), the point's window staff in their inbox.
    def sms_sent() -> list[str]:
        texts = (f.read_text() for f in (var_dir / "sms").glob("*.txt"))
        return [t for t in texts if t.startswith("to: 137****1111")]

    texts = wait_for(lambda: len(sms_sent()) >= 5 and sms_sent(), timeout=30)
    assert len(texts) == 5  # opened; approved; returned, then approved; rejected
    assert sum("您的学习成果存入申请已通过审核" in t for t in texts) == 2
    assert sum("需补正材料" in t and "学时与证书不符" in t for t in texts) == 1
    assert sum("未通过审核" in t and "证书无法核验" in t for t in texts) == 1
    assert sum("开户申请已通过审核，学习账号 ZJ" in t for t in texts) == 1
    inbox = system["notify"].get("/api/v1/inbox?per_page=50", headers=window).json
    subjects = sorted(i["subject"] for i in inbox["items"])
    assert subjects == sorted(["申请已通过"] * 3 + ["申请被退回修改", "申请未通过"]), subjects
    # The reviewers who ended each round have it in their inbox.
    notify = system["notify"]
    upper = notify.get("/api/v1/inbox", headers=subcentre_reviewer).json["items"]
    assert sorted(i["subject"] for i in upper) == ["申请已通过", "申请已通过"]
    lower = notify.get("/api/v1/inbox", headers=point_reviewer).json["items"]
    assert sorted(i["subject"] for i in lower) == sorted(
        ["申请已通过", "申请被退回修改", "申请未通过"]
    )
    messages = messages_sent(run_env)
    assert any("PX20260001" in m for m in messages)  # they were read: the deposit's is there
    assert_no_personal_data(messages, {"王五", document, "13700001111"})


def test_an_import_from_file_to_ledgers(system, var_dir, run_env) -> None:
    from tests.import_data import generate, to_xlsx

    world, intake, review = system["org"], system["intake"], system["review"]
    code, admin = world.operating_point("S001")
    window = world.login(f"{code.lower()}-service").headers
    point_reviewer = staff(world, admin.headers, code, "ap-reviewer", "reviewer")
    subcentre_reviewer = world.staff("S001", ["reviewer"], "s001-reviewer").headers
    generated = generate(120, seed=8)
    r = intake.post(
        "/api/v1/imports",
        headers=window,
        data={"file": (__import__("io").BytesIO(to_xlsx(generated.rows)), "records.xlsx")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 202, r.json
    import_id = r.json["id"]

    def imported() -> dict[str, Any]:
        return dict(intake.get(f"/api/v1/imports/{import_id}", headers=window).json)

    batch = wait_for(lambda: imported()["status"] == "in_review" and imported(), timeout=60)
    assert batch["valid"] == generated.valid
    application = batch["application_id"]

    def case_of(headers: dict) -> dict | None:
        items = review.get("/api/v1/inbox?per_page=100", headers=headers).json["items"]
        return next((c for c in items if c["application_id"] == application), None)

    case = wait_for(lambda: case_of(point_reviewer), timeout=30)
    assert case["kind"] == "import" and case["batch"]["records"] == generated.valid
    first_record = case["batch"]["record_rows"][0][0]
    r = review.post(
        f"/api/v1/cases/{case['id']}/decision",
        headers=point_reviewer,
        json={"decision": "approve", "rejected_rows": [{"row": first_record, "reason": "无证书"}]},
    )
    assert r.status_code == 200, r.json
    upper = wait_for(lambda: case_of(subcentre_reviewer), timeout=30)
    r = review.post(
        f"/api/v1/cases/{upper['id']}/decision",
        headers=subcentre_reviewer,
        json={"decision": "approve"},
    )
    assert r.status_code == 200, r.json
    done = wait_for(lambda: imported()["status"] == "approved" and imported(), timeout=30)
    records = intake.get(
        f"/api/v1/imports/{import_id}/records?per_page=100&status=approved", headers=window
    ).json
    assert records["total"] == done["valid"] - 1
    account = records["items"][0]["account_number"]
    opened = intake.get(f"/api/v1/accounts/{account}", headers=window).json
    assert opened["opened_by_import_id"] == import_id
    balances = opened["balances"]
    ledger = intake.get(f"/api/v1/accounts/{account}/ledger", headers=window).json["items"]
    assert ledger[0]["application_id"] is None and ledger[0]["import_record_id"]
    assert [b["outcome_kind"] for b in balances] == ["social_training"]
    assert balances[0]["hours"] == f"{float(records['items'][0]['hours']):.2f}"
    secrets = {
        row[column] for row in generated.rows for column in ("name", "document_number", "phone")
    }
    assert_no_personal_data(messages_sent(run_env), {s for s in secrets if len(s) > 1})
