"""Reconciliation with review: the applications that have been in review a while, sent to
review in batches so it can redo whatever a lost message left undone (see
``services.review.reconcile``). Nothing here changes an application."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from services.intake import handoff
from services.intake.models import Application, ApplicationStatus, Outbox
from shared import outbox
from shared.db import utcnow
from shared.levels import FIRST_LEVEL, review_queue

BATCH = 500  # applications per review.reconcile message (the contract's limit)


WITHDRAWN_WINDOW = timedelta(days=1)  # how long a withdrawal is re-told to review


def send_for_reconciliation(session: Session, grace: timedelta) -> int:
    """Queue ``review.reconcile`` for every application in review unchanged for ``grace``,
    and every one withdrawn within the last day (its withdrawal may have been lost); return
    how many applications were sent."""
    cutoff = utcnow() - grace
    in_review = (Application.status == ApplicationStatus.IN_REVIEW) & (
        Application.updated_at <= cutoff
    )
    withdrawn = (
        (Application.status == ApplicationStatus.WITHDRAWN)
        & (Application.final_at <= cutoff)
        & (Application.final_at > utcnow() - WITHDRAWN_WINDOW)
    )
    return _send(session, in_review, False) + _send(session, withdrawn, True)


def _send(session: Session, condition: Any, withdrawn: bool) -> int:
    after, sent = None, 0
    while True:
        query = (
            select(Application)
            .where(condition)
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
            {
                "applications": [
                    {**handoff.review_request(a), "withdrawn": withdrawn} for a in batch
                ]
            },
            queue=review_queue(FIRST_LEVEL),
        )
        sent += len(batch)
        after = batch[-1].id
