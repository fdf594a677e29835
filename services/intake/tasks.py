"""Intake's tasks on the ``intake`` queue: thin adapters around the rules."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import shared_task

from services.intake import config, decisions, reconcile
from services.intake.context import worker_context
from services.intake.worker_db import worker_db
from shared import contracts

log = logging.getLogger(__name__)


@shared_task(name="intake.apply_decision")
def apply_decision(**payload: Any) -> str:
    """Apply a review decision to its application (idempotent: redelivery posts once)."""
    message = contracts.load("intake.apply_decision", payload)
    with worker_db().transaction() as session:
        done = decisions.apply_decision(session, worker_context(), message)
    log.info(
        "decision applied",
        extra={"application_id": str(message["application_id"]), "outcome": done},
    )
    return done


@shared_task(name="intake.reconcile_reviews")
def reconcile_reviews() -> int:
    """Ask review to redo what lost messages left undone for applications long in review."""
    grace = timedelta(seconds=config.settings().reconcile_grace_seconds)
    with worker_db().transaction() as session:
        return reconcile.send_for_reconciliation(session, grace)
