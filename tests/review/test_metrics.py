"""Review's gauges for the exporter: open cases per level and unit, pending, claimed, overdue."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from services.review import metrics
from services.review.context import worker_db
from services.review.models import Case, CaseStatus
from shared.db import utcnow
from tests.review.conftest import opened
from tests.review.test_deadlines import shift


def gauges() -> dict[tuple[str, str, str], float]:
    with worker_db().transaction() as session:
        (family,) = metrics.collect(session)
    return {
        (s.labels["level"], s.labels["unit"], s.labels["state"]): s.value for s in family.samples
    }


def test_no_open_case_no_series() -> None:
    assert gauges() == {}


def test_pending_claimed_and_overdue_per_level_and_unit() -> None:
    late, claimed, _fresh = opened(), opened(), opened()
    opened(level="subcentre")
    shift(late, due_at=timedelta(minutes=5))
    with worker_db().transaction() as session:
        session.execute(
            update(Case)
            .where(Case.id == claimed.id)
            .values(
                status=CaseStatus.CLAIMED,
                claimed_by_id=9,
                claimed_by="r",
                claim_expires_at=utcnow() + timedelta(minutes=30),
            )
        )
    got = gauges()
    assert got[("acceptance_point", "AP000001", "pending")] == 2
    assert got[("acceptance_point", "AP000001", "claimed")] == 1
    assert got[("acceptance_point", "AP000001", "overdue")] == 1
    assert got[("subcentre", "S001", "pending")] == 1
    assert got[("subcentre", "S001", "overdue")] == 0
