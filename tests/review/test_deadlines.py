"""Deadlines per level, the sweep that flags overdue cases and reminds units through notify,
expired claims freed, and the backlog per level and unit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from services.review import deadlines
from services.review.context import worker_db
from services.review.models import Case, CaseStatus, Outbox
from shared.db import utcnow
from shared.levels import Level
from tests.helpers import running_worker, wait_for
from tests.review.conftest import opened

POINT = ("AP000001", "/ZJ/B01/S001/AP000001/", "acceptance_point")


def shift(case: Case, **ages: timedelta) -> None:
    """Move a case's times into the past (opened_at=..., due_at=...)."""
    with worker_db().transaction() as session:
        session.execute(
            update(Case)
            .where(Case.id == case.id)
            .values(**{k: utcnow() - v for k, v in ages.items()})
        )


def reminders() -> list[dict]:
    with worker_db().transaction() as session:
        rows = session.scalars(
            select(Outbox).where(Outbox.task_name == "notify.deliver").order_by(Outbox.created_at)
        )
        return [r.payload for r in rows]


def test_deadlines_are_parsed_per_level() -> None:
    every = deadlines.parse_deadlines("5")
    assert set(every.values()) == {timedelta(days=5)}
    some = deadlines.parse_deadlines("acceptance_point=1.5, branch=10")
    assert some[Level.ACCEPTANCE_POINT] == timedelta(days=1.5)
    assert some[Level.BRANCH] == timedelta(days=10)
    assert some[Level.SUBCENTRE] == timedelta(days=5)


@pytest.mark.parametrize(
    ("bad", "message"),
    [("county=3", "unknown level"), ("x", "not a number"), ("0", "more than 0")],
)
def test_bad_deadlines_are_refused_saying_why(bad: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        deadlines.parse_deadlines(bad)


def test_a_case_is_due_by_its_levels_deadline() -> None:
    case = opened()
    assert case.due_at - case.opened_at == timedelta(days=5)  # CB_REVIEW_DEADLINE_DAYS default


def test_the_sweep_flags_overdue_cases_and_reminds_each_unit_once_a_day() -> None:
    late, late_too, on_time = opened(), opened(), opened()
    elsewhere = opened(unit_code="AP000009", unit_path="/ZJ/B05/S060/AP000009/")
    for case in (late, late_too, elsewhere):
        shift(case, due_at=timedelta(hours=1))
    with worker_db().transaction() as session:
        assert deadlines.sweep(session, timedelta(hours=24)) == {
            "overdue_flagged": 3,
            "reminders": 2,
        }
    sent = {r["unit_code"]: r for r in reminders()}
    assert set(sent) == {"AP000001", "AP000009"}
    assert sent["AP000001"]["event_type"] == "review.cases_overdue"
    assert sent["AP000001"]["data"]["overdue"] == 2
    assert set(sent["AP000001"]["data"]["case_ids"]) == {str(late.id), str(late_too.id)}
    with worker_db().transaction() as session:
        # Run again at once: nothing new to flag, nobody reminded twice the same day.
        assert deadlines.sweep(session, timedelta(hours=24)) == {
            "overdue_flagged": 0,
            "reminders": 0,
        }
        assert session.get(Case, on_time.id).overdue_at is None  # type: ignore[union-attr]
        # A day later the unit is reminded again; the case stays flagged from the first time.
        session.execute(
            update(Case).where(Case.id == late.id).values(reminded_at=utcnow() - timedelta(days=1))
        )
        assert deadlines.sweep(session, timedelta(hours=24)) == {
            "overdue_flagged": 0,
            "reminders": 1,
        }
    assert len(reminders()) == 3


def test_expired_claims_go_back_to_pending(client, token) -> None:
    case = opened()
    r = client.post(f"/api/v1/cases/{case.id}/claim", headers=token(*POINT))
    assert r.status_code == 200
    with worker_db().transaction() as session:
        assert deadlines.release_expired_claims(session) == 0
        session.execute(
            update(Case)
            .where(Case.id == case.id)
            .values(claim_expires_at=utcnow() - timedelta(seconds=1))
        )
    inbox = client.get("/api/v1/inbox", headers=token(*POINT)).json
    assert (inbox["pending"], inbox["claimed"]) == (1, 0)  # expired: anyone may take it
    with worker_db().transaction() as session:
        assert deadlines.release_expired_claims(session) == 1
        freed = session.get(Case, case.id)
        assert freed is not None and freed.status == CaseStatus.PENDING
        assert freed.claimed_by_id is None


def test_backlog_per_level_and_unit_within_the_callers_scope(client, token) -> None:
    a, b, c = opened(), opened(), opened()
    shift(a, opened_at=timedelta(hours=30), due_at=timedelta(hours=2))
    client.post(f"/api/v1/cases/{b.id}/claim", headers=token(*POINT))
    opened(level="subcentre")
    opened(unit_code="AP000009", unit_path="/ZJ/B05/S060/AP000009/")  # another branch
    branch = client.get("/api/v1/backlog", headers=token("B01", "/ZJ/B01/", "branch")).json
    assert [lv["level"] for lv in branch["levels"]] == ["acceptance_point", "subcentre"]
    point = branch["levels"][0]
    assert (point["pending"], point["claimed"], point["overdue"]) == (2, 1, 1)
    assert 30 * 3600 <= point["oldest_age_seconds"] < 31 * 3600
    assert [(u["level"], u["unit_code"]) for u in branch["units"]] == [
        ("acceptance_point", "AP000001"),
        ("subcentre", "S001"),
    ]
    province = client.get("/api/v1/backlog", headers=token("ZJ", "/ZJ/", "province")).json
    assert sum(u["pending"] + u["claimed"] for u in province["units"]) == 5
    assert c.status == CaseStatus.PENDING


def test_the_backlog_is_shown_for_one_level(client, token) -> None:
    opened()
    opened(level="subcentre")
    only = client.get(
        "/api/v1/backlog?level=subcentre", headers=token("ZJ", "/ZJ/", "province")
    ).json
    assert [u["unit_code"] for u in only["units"]] == ["S001"]


def test_a_backlog_of_an_unknown_level_is_422(client, token) -> None:
    r = client.get("/api/v1/backlog?level=county", headers=token("ZJ", "/ZJ/", "province"))
    assert r.status_code == 422 and r.json["errors"][0]["field"] == "level"


def test_the_backlog_needs_a_sign_in(client, token) -> None:
    assert client.get("/api/v1/backlog").status_code == 401
    assert client.get("/api/v1/backlog", headers=token(*POINT)).status_code == 200


@pytest.mark.integration
def test_the_sweep_runs_on_a_real_worker_as_beat_sends_it(redis_client) -> None:
    from services.review.worker import celery
    from shared.beat import celery as beat

    case = opened()
    shift(case, due_at=timedelta(minutes=1))
    entry = beat.conf.beat_schedule["review-deadlines"]
    with running_worker(celery, [entry["options"]["queue"]]):
        beat.send_task(entry["task"], **entry["options"])
        wait_for(lambda: reminders(), timeout=20)
    assert reminders()[0]["data"]["case_ids"] == [str(case.id)]


def test_one_daily_digest_per_unit_not_a_message_per_case(client, token) -> None:
    late, _, claimed = opened(), opened(), opened()
    shift(late, due_at=timedelta(hours=3))
    client.post(f"/api/v1/cases/{claimed.id}/claim", headers=token(*POINT))
    opened(level="subcentre")
    with worker_db().transaction() as session:
        assert deadlines.send_digests(session) == 2
    digests = {r["unit_code"]: r for r in reminders() if r["event_type"] == "review.daily_digest"}
    assert set(digests) == {"AP000001", "S001"}
    point = digests["AP000001"]
    assert point["unit_path"] == "/ZJ/B01/S001/AP000001/"
    assert (point["data"]["pending"], point["data"]["claimed"], point["data"]["overdue"]) == (
        2,
        1,
        1,
    )
