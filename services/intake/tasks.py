"""Intake's tasks on the ``intake`` queue: thin adapters around the rules."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import shared_task

from services.intake import config, decisions, reconcile
from services.intake.context import worker_context, worker_db
from services.intake.imports import chunks, lifecycle
from shared import messages
from shared.db import again_on_conflict

log = logging.getLogger(__name__)


@shared_task(name="intake.apply_decision")
def apply_decision(**payload: Any) -> str:
    """Apply a review decision to its application (idempotent: redelivery posts once)."""
    message = messages.load("intake.apply_decision", payload)
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


@shared_task(name="intake.prepare_import")
def prepare_import(**payload: Any) -> str:
    """Read a received import's rows once and queue its chunks (idempotent)."""
    message = messages.load("intake.prepare_import", payload)
    done = again_on_conflict(
        worker_db(),
        lambda session: lifecycle.prepare(session, worker_context(), message["import_id"]),
    )
    log.info("import prepared", extra={"import_id": str(message["import_id"]), "result": done})
    return done


@shared_task(name="intake.read_import_chunk")
def read_import_chunk(**payload: Any) -> str:
    """Check and take one chunk of an import's rows (a chunk done already changes nothing)."""
    message = messages.load("intake.read_import_chunk", payload)
    done = again_on_conflict(
        worker_db(),
        lambda session: chunks.read_chunk(
            session, worker_context(), message["import_id"], message["chunk"]
        ),
    )
    log.info(
        "import chunk read",
        extra={"import_id": str(message["import_id"]), "chunk": message["chunk"], "result": done},
    )
    return done


@shared_task(name="intake.resume_imports")
def resume_imports() -> int:
    """Re-send the next step of imports that a lost message or a dead worker left stalled."""
    stalled = timedelta(seconds=config.settings().import_resume_seconds)
    with worker_db().transaction() as session:
        return lifecycle.resume(session, stalled)
