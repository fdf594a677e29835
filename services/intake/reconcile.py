"""Reconciliation with review: the applications that have been in review a while, sent to
review in batches so it can redo whatever a lost message left undone (see
``services.review.reconcile``). Nothing here changes an application."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from services.intake import timeline
from services.intake.models import Application, ApplicationStatus, Outbox
from shared import outbox
from shared.db import utcnow

BATCH = 500  # applications per review.reconcile message (the contract's limit)


def send_for_reconciliation(session: Session, grace: timedelta) -> int:
    """Queue ``review.reconcile`` for every application in review unchanged for ``grace``;
    return how many applications were sent."""
    cutoff, after, sent = utcnow() - grace, None, 0
    while True:
        query = (
            select(Application)
            .where(Application.status == ApplicationStatus.IN_REVIEW)
            .where(Application.updated_at <= cutoff)
            .options(selectinload(Application.versions))
            .order_by(Application.id)
            .limit(BATCH)
        )
        if after is not None:
            query = query.where(Application.id > after)
        batch = session.scalars(query).all()
        if not batch:
            return sent
        outbox.enqueue(
            session,
            Outbox,
            "review.reconcile",
            {"applications": [timeline.review_request(a) for a in batch]},
            queue=f"review.{timeline.FIRST_LEVEL}",
        )
        sent += len(batch)
        after = batch[-1].id
