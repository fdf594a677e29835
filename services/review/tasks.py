"""Review's tasks, consumed on each level's queue (``review.<level>``): thin adapters."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from services.review import cases, deadlines
from services.review import reconcile as reconcile_module
from services.review.context import worker_context, worker_db
from shared import messages

log = logging.getLogger(__name__)


@shared_task(name="review.open_case")
def open_case(**payload: Any) -> str:
    """Open the case for this application, level and round (a redelivery opens nothing)."""
    message = messages.load("review.open_case", payload)
    with worker_db().transaction() as session:
        case = cases.open_case(session, worker_context(), message)
    log.info(
        "case opened" if case else "case already open",
        extra={"application_id": str(message["application_id"]), "level": message["level"]},
    )
    return str(case.id) if case else "already open"


@shared_task(name="review.withdraw_application")
def withdraw_application(**payload: Any) -> int:
    """Close the open cases of a withdrawn application."""
    message = messages.load("review.withdraw_application", payload)
    with worker_db().transaction() as session:
        return cases.withdraw(session, message["application_id"], message["round"])


@shared_task(name="review.reconcile")
def reconcile(**payload: Any) -> dict[str, int]:
    """Open what lost messages left unopened, re-send what they left unsaid."""
    message = messages.load("review.reconcile", payload)
    with worker_db().transaction() as session:
        done = reconcile_module.reconcile(session, worker_context(), message["applications"])
    if set(done) - {"in_review"}:
        log.warning("reconciled", extra={"done": dict(done)})
    return dict(done)


@shared_task(name="review.sweep_deadlines")
def sweep_deadlines() -> dict[str, int]:
    """Free expired claims; flag overdue cases and remind their units through notify."""
    with worker_db().transaction() as session:
        released = deadlines.release_expired_claims(session)
        swept = deadlines.sweep(session, worker_context().remind_every)
    return {"claims_released": released, **swept}


@shared_task(name="review.send_digests")
def send_digests() -> int:
    """The reviewers' daily digest of pending and overdue cases, one per unit."""
    with worker_db().transaction() as session:
        return deadlines.send_digests(session)
