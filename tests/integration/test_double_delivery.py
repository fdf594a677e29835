"""Every message delivered twice, end to end through intake and review with real workers on
real Redis: the outcome is exactly as if each had been delivered once."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select, text

from tests.factories import REVIEW_TABLES, TokenFactory, Window
from tests.helpers import drained, running_worker, wait_for

# Intake's tables emptied (and Redis) before the relays start.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.usefixtures("clean_intake")]
QUEUES = ["review.acceptance_point", "review.subcentre", "intake"]
POINT = ("AP000001", "/ZJ/B01/S001/AP000001/", "acceptance_point")
SUBCENTRE = ("S001", "/ZJ/B01/S001/", "subcentre")


def test_every_message_twice_changes_nothing(intake_app, relays_twice, task_runs, var_dir) -> None:
    import services.intake.tasks  # noqa: F401 - registers intake's tasks on the worker's app
    from services.intake.context import worker_db as intake_db
    from services.intake.models import Application, ApplicationEvent, LedgerEntry
    from services.review.app import create_app as review_app
    from services.review.context import worker_db as review_db
    from services.review.models import Case
    from services.review.routing import seed_routes
    from services.review.worker import celery

    with review_db().transaction() as session:
        session.execute(text(f"TRUNCATE {REVIEW_TABLES}"))
        seed_routes(session)
    review = review_app().test_client()
    tokens = TokenFactory(var_dir)
    ids: list[str] = []

    def inbox(headers: dict[str, str]) -> list[dict]:
        items = review.get("/api/v1/inbox?per_page=100", headers=headers).json["items"]
        return [c for c in items if c["application_id"] in ids]

    def decide_all(headers: dict[str, str], plan: dict[str, str]) -> None:
        body = [
            {"case_id": case_id, "decision": d, **({"reason": "核验"} if d != "approve" else {})}
            for case_id, d in plan.items()
        ]
        r = review.post("/api/v1/cases/decisions", headers=headers, json={"decisions": body})
        assert r.json["decided"] == len(body), r.json

    def statuses() -> Counter[str]:
        with intake_db().transaction() as session:
            rows = session.scalars(select(Application.status).where(Application.id.in_(ids)))
            return Counter(s.value for s in rows)

    with intake_app.app_context(), running_worker(celery, QUEUES):
        window = Window(intake_app.test_client(), var_dir)
        headers = window.token()
        account = window.open_account(headers)
        sha = window.upload(headers)
        for _ in range(6):
            body = window.deposit_body(account, [sha])
            r = window.client.post("/api/v1/applications", headers=headers, json=body)
            assert r.status_code == 201, r.json
            ids.append(r.json["id"])
        point = tokens.make(*POINT)
        at_point = wait_for(lambda: len(inbox(point)) == 6 and inbox(point), timeout=30)
        decide_all(point, {c["id"]: "approve" for c in at_point})
        subcentre = tokens.make(*SUBCENTRE)
        upper = wait_for(lambda: len(inbox(subcentre)) == 6 and inbox(subcentre), timeout=30)
        case_of = {c["application_id"]: c["id"] for c in upper}
        plan = ["approve"] * 4 + ["return", "reject"]
        decide_all(subcentre, {case_of[a]: d for a, d in zip(ids, plan, strict=True)})
        wait_for(lambda: statuses() == Counter(approved=4, returned=1, rejected=1), timeout=30)
        wait_for(lambda: drained(celery, QUEUES), timeout=30)  # every second copy has arrived too

    # Every message really was delivered and run twice...
    assert {name for name, _ in task_runs} == {"review.open_case", "intake.apply_decision"}
    assert set(task_runs.values()) == {2}, task_runs
    # ...and everything stands as if once: one case per level, one posting per approval,
    # one timeline event per decision.
    with review_db().transaction() as session:
        per_level = session.execute(
            select(Case.level, func.count())
            .where(Case.application_id.in_(ids))
            .group_by(Case.level)
        ).all()
    assert {level.value: n for level, n in per_level} == {"acceptance_point": 6, "subcentre": 6}
    with intake_db().transaction() as session:
        assert session.scalar(select(func.count()).select_from(LedgerEntry)) == 4
        events = Counter(
            session.scalars(
                select(ApplicationEvent.type).where(ApplicationEvent.application_id.in_(ids))
            )
        )
    assert events == Counter(taken=6, passed_up=6, approved=4, returned=1, rejected=1)
