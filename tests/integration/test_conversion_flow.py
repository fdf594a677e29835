"""Conversions through review's levels with real workers on real Redis, every message
delivered twice: a conversion by the rules climbs to the branch, an expert judgement one level
higher, to the provincial centre; each approval posts its credits once and consumes its
outcomes, a rejection frees them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, text

from tests.factories import REVIEW_TABLES, Conversions, TokenFactory, Window, decide
from tests.helpers import drained, running_worker, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.usefixtures("clean_intake")]
QUEUES = [
    "review.acceptance_point",
    "review.subcentre",
    "review.branch",
    "review.province",
    "intake",
]
LEVELS = {
    "acceptance_point": ("AP000001", "/ZJ/B01/S001/AP000001/", "acceptance_point"),
    "subcentre": ("S001", "/ZJ/B01/S001/", "subcentre"),
    "branch": ("B01", "/ZJ/B01/", "branch"),
    "province": ("ZJ", "/ZJ/", "province"),
}


@pytest.fixture
def review() -> Iterator[Any]:
    from services.review.app import create_app as review_app
    from services.review.context import worker_db as review_db
    from services.review.routing import seed_routes

    with review_db().transaction() as session:
        session.execute(text(f"TRUNCATE {REVIEW_TABLES}"))
        seed_routes(session)
    yield review_app().test_client()


def test_conversions_climb_to_their_level_and_post_once(
    intake_app,
    review,
    relays_twice,
    task_runs,
    var_dir,
) -> None:
    import services.intake.tasks  # noqa: F401 - registers intake's tasks on the worker's app
    from services.intake.context import worker_db as intake_db
    from services.intake.conversion.models import Reservation
    from services.intake.models import Application, LedgerEntry
    from services.review.context import worker_db as review_db
    from services.review.models import Case
    from services.review.worker import celery

    tokens = TokenFactory(var_dir)
    reviewers = {level: tokens.make(*where) for level, where in LEVELS.items()}

    def case_at(level: str, application_id: str) -> str | None:
        items = review.get("/api/v1/inbox?per_page=100", headers=reviewers[level]).json["items"]
        return next((c["id"] for c in items if c["application_id"] == application_id), None)

    def decide_at(level: str, application_id: str, decision: str = "approve") -> dict:
        case_id = wait_for(lambda: case_at(level, application_id), timeout=30)
        body = {"decision": decision, **({"reason": "不符合"} if decision != "approve" else {})}
        r = review.post(f"/api/v1/cases/{case_id}/decision", headers=reviewers[level], json=body)
        assert r.status_code == 200, r.json
        return review.get(f"/api/v1/cases/{case_id}", headers=reviewers[level]).json

    def status(application_id: str) -> str:
        with intake_db().transaction() as session:
            return session.get_one(Application, application_id).status.value

    with intake_app.app_context(), running_worker(celery, QUEUES):
        window = Window(intake_app.test_client(), var_dir)
        conv = Conversions(window)
        conv.catalogue()
        conv.standard()
        clerk = window.token()
        account = window.open_account(clerk)
        by_rule, expert, refused = (conv.outcome(clerk, account) for _ in range(3))
        elsewhere = {"institution": "U1", "programme": "U1-ME"}
        applied = {
            "by_rule": conv.body(account, [by_rule]),
            "expert": conv.body(
                account,
                [expert],
                target=elsewhere,
                expert={"credits": "2", "reason": "培训内容与课程一致"},
            ),
            "refused": conv.body(account, [refused]),
        }
        ids = {}
        for name, body in applied.items():
            r = window.client.post("/api/v1/conversions", headers=clerk, json=body)
            assert r.status_code == 201, r.json
            ids[name] = r.json["id"]

        for level in ("acceptance_point", "subcentre"):
            shown = decide_at(level, ids["by_rule"])
        assert (shown["kind"], shown["top_level"], shown["expert"]) == (
            "conversion",
            "branch",
            False,
        )
        decide_at("branch", ids["by_rule"])
        for level in ("acceptance_point", "subcentre", "branch"):
            shown = decide_at(level, ids["expert"])
        assert (shown["top_level"], shown["expert"]) == ("province", True)
        decide_at("province", ids["expert"])
        decide_at("acceptance_point", ids["refused"], "reject")
        wait_for(
            lambda: (
                [status(ids[n]) for n in ("by_rule", "expert", "refused")]
                == ["approved", "approved", "rejected"]
            ),
            timeout=30,
        )
        wait_for(lambda: drained(celery, QUEUES), timeout=30)  # every second copy has arrived too

    assert task_runs and set(task_runs.values()) == {2}, task_runs
    # the final approval, delivered twice (and once more by hand), posted once
    decide(ids["by_rule"], "approved", level="branch")
    with intake_db().transaction() as session:
        posted = session.execute(
            select(LedgerEntry.application_id, LedgerEntry.credits).where(
                LedgerEntry.entry_kind == "conversion"
            )
        ).all()
        held = dict(session.execute(select(Reservation.ledger_entry_id, Reservation.status)).all())
    assert sorted((str(a), str(c)) for a, c in posted) == sorted(
        [(ids["by_rule"], "3.00"), (ids["expert"], "2.00")]
    )
    assert {k: v.value for k, v in held.items()} == {
        by_rule: "consumed",
        expert: "consumed",
        refused: "released",
    }
    with review_db().transaction() as session:
        levels = session.scalars(
            select(Case.level).where(Case.application_id == ids["expert"]).order_by(Case.opened_at)
        ).all()
    assert [level.value for level in levels] == list(LEVELS)
