"""Cases open once per application, level and round, for the right unit, with checks."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from services.review import cases, routing
from services.review.context import worker_context, worker_db
from services.review.models import Case, CaseStatus
from shared import contracts, evidence
from shared.levels import Level
from tests.helpers import running_worker, wait_for
from tests.review.conftest import open_case_message, stored_evidence


def open_(message: dict) -> Case | None:
    with worker_db().transaction() as session:
        return cases.open_case(
            session, worker_context(), contracts.load("review.open_case", message)
        )


def all_cases() -> list[Case]:
    with worker_db().transaction() as session:
        return list(session.scalars(select(Case).order_by(Case.opened_at)))


@pytest.mark.parametrize(
    ("path", "level", "unit"),
    [
        ("/ZJ/B01/S001/AP000001/", Level.ACCEPTANCE_POINT, "AP000001"),
        ("/ZJ/B01/S001/AP000001/", Level.SUBCENTRE, "S001"),
        ("/ZJ/B01/S001/AP000001/", Level.BRANCH, "B01"),
        ("/ZJ/B01/S001/AP000001/", Level.PROVINCE, "ZJ"),
        ("/ZJ/B01/AP000002/", Level.SUBCENTRE, None),  # a point right under a branch
        ("/ZJ/S090/AP000003/", Level.BRANCH, None),  # sub-centres 90-92 have no branch
    ],
)
def test_the_responsible_unit_is_the_points_ancestor(path, level, unit) -> None:
    found = routing.responsible_unit(path, level)
    assert (found.code if found else None) == unit
    if found:
        assert path.startswith(found.path)


def test_levels_skip_what_a_point_does_not_have() -> None:
    assert routing.next_level("/ZJ/S090/AP000003/", Level.SUBCENTRE, Level.BRANCH) is None
    assert routing.next_level("/ZJ/S090/AP000003/", Level.SUBCENTRE, Level.PROVINCE) == (
        Level.PROVINCE
    )
    assert routing.next_level("/ZJ/B01/AP000002/", Level.ACCEPTANCE_POINT, Level.BRANCH) == (
        Level.BRANCH
    )


def test_route_table_and_escalation_by_credits() -> None:
    with worker_db().transaction() as session:
        top = routing.top_level
        assert top(session, 1, "account_opening", None, None) == Level.ACCEPTANCE_POINT
        assert top(session, 1, "deposit", "social_training", None) == Level.SUBCENTRE
        assert top(session, 1, "deposit", "academic_credit", Decimal("4")) == Level.BRANCH
        assert top(session, 1, "deposit", "academic_credit", Decimal("12")) == Level.PROVINCE
        assert top(session, 1, "mystery", None, None) == Level.PROVINCE


def test_a_redelivered_message_opens_nothing_new() -> None:
    message = open_case_message()
    first = open_(message)
    assert first is not None and first.unit_code == "AP000001"
    assert first.top_level == Level.SUBCENTRE and first.route_version == 1
    assert open_(message) is None
    assert open_({**message, "message_id": "11111111-1111-4111-8111-111111111111"}) is None
    assert len(all_cases()) == 1


def test_the_next_level_and_the_next_round_each_open_their_own_case() -> None:
    message = open_case_message()
    assert open_(message) is not None
    nxt = open_({**message, "level": "subcentre"})
    assert nxt is not None and nxt.unit_code == "S001"
    assert open_({**message, "round": 2}) is not None
    assert len(all_cases()) == 3


def test_a_sound_case_passes_every_check() -> None:
    first = open_(open_case_message())
    assert first is not None and all(c["passed"] for c in first.checks)


def test_a_certificate_already_deposited_elsewhere_is_found_province_wide() -> None:
    first = open_(open_case_message())
    assert first is not None
    elsewhere = open_case_message(
        unit_code="AP000009", unit_path="/ZJ/B05/S060/AP000009/", attachments=[]
    )
    second = open_(elsewhere)
    assert second is not None
    results = {c["check"]: c for c in second.checks}
    assert results["certificate_unique"]["passed"] is False
    assert str(first.application_id) in results["certificate_unique"]["detail"]


def test_a_case_without_evidence_is_flagged() -> None:
    case = open_(open_case_message(attachments=[]))
    assert case is not None
    results = {c["check"]: c for c in case.checks}
    assert results["evidence_present"]["passed"] is False


def test_withdrawal_closes_open_cases() -> None:
    message = open_case_message()
    open_(message)
    with worker_db().transaction() as session:
        closed = cases.withdraw(session, uuid.UUID(message["application_id"]), 1)
    assert closed == 1 and all_cases()[0].status == CaseStatus.WITHDRAWN


def drained() -> bool:
    import redis

    from services.review import config

    client = redis.Redis.from_url(config.settings().redis_url)
    queues = ("review.acceptance_point", "review.subcentre")
    return not any(client.llen(q) for q in queues) and not client.hlen("unacked")


@pytest.mark.integration
def test_each_level_queue_opens_its_cases_through_a_real_worker() -> None:
    from services.review.worker import celery

    point = open_case_message()
    subcentre = {**open_case_message(level="subcentre"), "application_id": point["application_id"]}
    with running_worker(celery, ["review.acceptance_point", "review.subcentre"]):
        for _ in range(2):  # every message delivered twice: the outcome is as if once
            celery.send_task("review.open_case", kwargs=point, queue="review.acceptance_point")
            celery.send_task("review.open_case", kwargs=subcentre, queue="review.subcentre")
        wait_for(lambda: len(all_cases()) == 2)
        wait_for(drained)  # the second deliveries too have been consumed and acknowledged
    with worker_db().transaction() as session:
        levels = session.execute(
            select(Case.level, Case.unit_code, func.count())
            .group_by(Case.level, Case.unit_code)
            .order_by(Case.level)
        ).all()
    assert [tuple(r) for r in levels] == [
        (Level.ACCEPTANCE_POINT, "AP000001", 1),
        (Level.SUBCENTRE, "S001", 1),
    ]


def checks_of(**overrides) -> dict[str, dict]:
    case = open_(open_case_message(**overrides))
    assert case is not None
    return {c["check"]: c for c in case.checks}


def test_evidence_is_read_and_hash_checked_in_the_store() -> None:
    missing = "b" * 64
    tampered = stored_evidence(b"%PDF-1.4 the original")
    path = evidence.path_of(worker_context().evidence_store, tampered)
    path.write_bytes(b"%PDF-1.4 altered after upload")
    not_a_pdf = stored_evidence(b"MZ\x90\x00 an executable")
    checks = checks_of(attachments=[stored_evidence(), missing, tampered, not_a_pdf])
    readable = checks["evidence_readable"]
    assert readable["passed"] is False
    assert "missing from the evidence store" in readable["detail"]
    assert "no longer matches" in readable["detail"]
    assert "not a PDF, JPEG or PNG" in readable["detail"]
    assert readable["detail"].count(";") == 2  # the good file is not named
    assert checks_of()["evidence_readable"]["passed"] is True


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"dates": {"start_date": "2026-03-20", "end_date": "2026-03-01"}}, "is before start_date"),
        ({"dates": {"issued_on": "2099-01-01"}}, "in the future"),
        ({"dates": {"completed_on": "1901-06-01"}}, "before 1950-01-01"),
        (
            {"hours": "480.00", "dates": {"start_date": "2026-03-01", "end_date": "2026-03-02"}},
            "480.00 hours in 2 day(s)",
        ),
    ],
)
def test_implausible_dates_are_flagged(overrides: dict, expected: str) -> None:
    check = checks_of(**overrides)["dates_plausible"]
    assert check["passed"] is False and expected in check["detail"]


def test_required_fields_of_a_deposit() -> None:
    check = checks_of(outcome_kind=None, hours=None)["required_fields"]
    assert check["passed"] is False and "outcome_kind" in check["detail"]
    assert "credits or hours" in check["detail"]


def test_a_rejected_certificate_may_be_deposited_again() -> None:
    first = open_(open_case_message(certificate_number="PX-R-1"))
    assert first is not None
    with worker_db().transaction() as session:
        session.execute(
            update(Case)
            .where(Case.id == first.id)
            .values(status=CaseStatus.DECIDED, decision="reject")
        )
    assert checks_of(certificate_number="PX-R-1")["certificate_unique"]["passed"] is True
