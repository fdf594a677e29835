"""Review's tasks, consumed on each level's queue (``review.<level>``): thin adapters."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from services.review import cases
from services.review.worker_db import worker_db
from shared import contracts

log = logging.getLogger(__name__)


@shared_task(name="review.open_case")
def open_case(**payload: Any) -> str:
    """Open the case for this application, level and round (a redelivery opens nothing)."""
    message = contracts.load("review.open_case", payload)
    with worker_db().transaction() as session:
        case = cases.open_case(session, message)
    log.info(
        "case opened" if case else "case already open",
        extra={"application_id": str(message["application_id"]), "level": message["level"]},
    )
    return str(case.id) if case else "already open"


@shared_task(name="review.withdraw_application")
def withdraw_application(**payload: Any) -> int:
    """Close the open cases of a withdrawn application."""
    message = contracts.load("review.withdraw_application", payload)
    with worker_db().transaction() as session:
        return cases.withdraw(session, message)
