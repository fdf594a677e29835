"""Reconciliation: for each application intake still has in review, review opens the first
case a lost message never opened, and re-sends the message a lost one left unsaid."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from services.review import decisions, reconcile
from services.review.context import worker_context, worker_db
from services.review.models import Case, Outbox
from shared import contracts
from tests.review.conftest import POINT_REVIEWER, open_case_message, opened


def requests(*messages: dict) -> list[dict]:
    """The applications as intake sends them in ``review.reconcile`` (typed as loaded)."""
    payload = {
        "message_id": "2d0b1a52-8d3e-4f4a-9a55-1b2f3c4d5e6f",
        "applications": [{k: v for k, v in m.items() if k != "message_id"} for m in messages],
    }
    return contracts.load("review.reconcile", payload)["applications"]


def run(*messages: dict) -> Counter[str]:
    with worker_db().transaction() as session:
        return reconcile.reconcile(session, worker_context(), requests(*messages))


def decide(case: Case, decision: str, reason: str | None = None) -> None:
    with worker_db().transaction() as session:
        decisions.decide(session, POINT_REVIEWER, case.id, decision, reason)
        session.execute(Outbox.__table__.delete())  # as if relayed, then lost in Redis


def sent() -> list[tuple[str, str, dict]]:
    with worker_db().transaction() as session:
        return [(o.task_name, o.queue, o.payload) for o in session.scalars(select(Outbox))]


def cases_of(application_id: str) -> int:
    with worker_db().transaction() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(Case).where(Case.application_id == application_id)
            )
            or 0
        )


def test_a_lost_first_message_is_opened_and_an_open_case_left_alone() -> None:
    lost = open_case_message()
    waiting = open_case_message()
    opened(**{k: v for k, v in waiting.items() if k != "message_id"})
    assert run(lost, waiting) == Counter(first_case_opened=1, in_review=1)
    assert cases_of(lost["application_id"]) == 1 and cases_of(waiting["application_id"]) == 1
    assert run(lost, waiting) == Counter(in_review=2)  # the second sweep changes nothing
    assert sent() == []


def test_a_lost_next_level_message_is_sent_again() -> None:
    message = open_case_message()
    case = opened(**{k: v for k, v in message.items() if k != "message_id"})
    decide(case, "approve")
    assert run(message) == Counter(next_level_resent=1)
    ((task, queue, payload),) = sent()
    assert (task, queue) == ("review.open_case", "review.subcentre")
    assert payload["application_id"] == message["application_id"] and payload["round"] == 1
    assert payload["dates"] == message["dates"]


def test_a_lost_decision_for_intake_is_sent_again_with_notify() -> None:
    message = open_case_message()
    case = opened(**{k: v for k, v in message.items() if k != "message_id"})
    decide(case, "reject", "证书无法核验")
    assert run(message) == Counter(outcome_resent=1)
    tasks = {task: payload for task, _, payload in sent()}
    assert tasks["intake.apply_decision"]["outcome"] == "rejected"
    assert tasks["notify.deliver"]["data"]["outcome"] == "rejected"


def test_a_new_round_after_a_return_gets_its_own_first_case() -> None:
    message = open_case_message()
    case = opened(**{k: v for k, v in message.items() if k != "message_id"})
    decide(case, "return", "缺少证书")
    resubmitted = {**message, "round": 2}
    assert run(resubmitted) == Counter(first_case_opened=1)
    assert cases_of(message["application_id"]) == 2


def test_a_lost_withdrawal_closes_the_open_case_and_opens_nothing() -> None:
    message = open_case_message()
    opened(**{k: v for k, v in message.items() if k != "message_id"})
    never_opened = open_case_message()
    withdrawn = [{**m, "withdrawn": True} for m in (message, never_opened)]
    assert run(*withdrawn) == Counter(withdrawal_applied=1, withdrawn=1)
    with worker_db().transaction() as session:
        statuses = session.scalars(
            select(Case.status).where(Case.application_id == message["application_id"])
        ).all()
    assert [s.value for s in statuses] == ["withdrawn"]
    assert cases_of(never_opened["application_id"]) == 0
    assert run(*withdrawn) == Counter(withdrawn=2)  # again: nothing more to do
