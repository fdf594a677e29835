"""Deadlines: each level has so many days to decide a case; a periodic sweep flags the cases
that ran over, reminds their units through notify, and frees claims that expired."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from services.review.backlog import open_counts
from services.review.models import OPEN_STATUSES, Case, CaseStatus, Outbox
from shared import outbox
from shared.db import utcnow
from shared.levels import LEVEL_ORDER, Level

REMINDER_SAMPLE = 5  # case ids named in one reminder; the count says how many there are


def parse_deadlines(spec: str) -> dict[Level, timedelta]:
    """``"5"`` (every level) or ``"acceptance_point=3,subcentre=5"`` (unnamed levels: 5 days)."""
    spec = spec.strip()
    if "=" not in spec:
        return {level: timedelta(days=_days(spec, "every level")) for level in LEVEL_ORDER}
    deadlines = {level: timedelta(days=5) for level in LEVEL_ORDER}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, value = part.partition("=")
        try:
            level = Level(name.strip())
        except ValueError:
            raise ValueError(f"review_deadline_days: unknown level {name.strip()!r}") from None
        deadlines[level] = timedelta(days=_days(value, level.value))
    return deadlines


def _days(value: str, what: str) -> float:
    try:
        days = float(value)
    except ValueError:
        raise ValueError(f"review_deadline_days: {value!r} for {what} is not a number") from None
    if days <= 0:
        raise ValueError(f"review_deadline_days: {what} must have more than 0 days")
    return days


def release_expired_claims(session: Session) -> int:
    """Claims that ran out go back to their unit's inbox as pending."""
    result = session.execute(
        update(Case)
        .where(Case.status == CaseStatus.CLAIMED, Case.claim_expires_at <= utcnow())
        .values(
            status=CaseStatus.PENDING, claimed_by_id=None, claimed_by=None, claim_expires_at=None
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def sweep(session: Session, remind_every: timedelta) -> dict[str, int]:
    """Flag newly overdue cases and send one reminder per unit for the cases due a reminder
    (never reminded, or last reminded ``remind_every`` ago). Safe to run twice at once: the
    rows are locked and skipped by a concurrent sweep."""
    now = utcnow()
    due = session.execute(
        select(Case.id, Case.unit_code, Case.unit_path, Case.level, Case.due_at, Case.overdue_at)
        .where(
            Case.status.in_(OPEN_STATUSES),
            Case.due_at <= now,
            or_(Case.reminded_at.is_(None), Case.reminded_at <= now - remind_every),
        )
        .order_by(Case.due_at)
        .with_for_update(skip_locked=True)
    ).all()
    if not due:
        return {"overdue_flagged": 0, "reminders": 0}
    ids = [row.id for row in due]
    newly = [row.id for row in due if row.overdue_at is None]
    if newly:
        session.execute(update(Case).where(Case.id.in_(newly)).values(overdue_at=now))
    session.execute(update(Case).where(Case.id.in_(ids)).values(reminded_at=now))
    by_unit: dict[tuple[str, Level], list[Any]] = defaultdict(list)
    for row in due:
        by_unit[(row.unit_code, row.level)].append(row)
    for (unit_code, level), rows in by_unit.items():
        outbox.enqueue(
            session,
            Outbox,
            "notify.deliver",
            {
                "event_type": "review.cases_overdue",
                "occurred_at": now.isoformat(),
                "unit_code": unit_code,
                "unit_path": rows[0].unit_path,
                "data": {
                    "level": level.value,
                    "overdue": len(rows),
                    "oldest_due_at": rows[0].due_at.isoformat(),
                    "case_ids": [str(r.id) for r in rows[:REMINDER_SAMPLE]],
                },
            },
        )
    return {"overdue_flagged": len(newly), "reminders": len(by_unit)}


def send_digests(session: Session) -> int:
    """Each unit with open cases gets one daily digest (pending, claimed, overdue, the oldest)
    for its reviewers, instead of a message per case; return how many units."""
    now, rows = open_counts(session)
    for row in rows:
        outbox.enqueue(
            session,
            Outbox,
            "notify.deliver",
            {
                "event_type": "review.daily_digest",
                "occurred_at": now.isoformat(),
                "unit_code": row.unit_code,
                "unit_path": row.unit_path,
                "data": {
                    "level": row.level.value,
                    "pending": row.pending,
                    "claimed": row.claimed,
                    "overdue": row.overdue,
                    "oldest_opened_at": row.oldest.isoformat(),
                },
            },
        )
    return len(rows)
