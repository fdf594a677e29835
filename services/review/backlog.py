"""The backlog per level and per unit: pending, claimed and overdue counts, and the age of
the oldest open case, for the caller's unit and every unit beneath it."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from services.review.models import OPEN_STATUSES, Case, CaseStatus
from shared.auth import Principal
from shared.db import utcnow
from shared.levels import LEVEL_ORDER, Level

COUNTS = ("pending", "claimed", "overdue")


def live_claim(now: datetime) -> ColumnElement[bool]:
    """A claim that has not expired; an expired one counts as pending (anyone may take it)."""
    return and_(Case.status == CaseStatus.CLAIMED, Case.claim_expires_at > now)


def open_counts(
    session: Session, scope_path: str | None = None, level: Level | None = None
) -> tuple[datetime, list[Any]]:
    """Per level and unit (within ``scope_path``): pending, claimed and overdue open cases
    and the oldest one's opening, as of the moment returned."""
    now = utcnow()
    claimed = live_claim(now)
    query = (
        select(
            Case.level,
            Case.unit_code,
            Case.unit_path,
            func.count().filter(~claimed).label("pending"),
            func.count().filter(claimed).label("claimed"),
            func.count().filter(Case.due_at <= now).label("overdue"),
            func.min(Case.opened_at).label("oldest"),
        )
        .where(Case.status.in_(OPEN_STATUSES))
        .group_by(Case.level, Case.unit_code, Case.unit_path)
        .order_by(Case.unit_code)
    )
    if scope_path is not None:
        query = query.where(Case.unit_path.startswith(scope_path))
    if level is not None:
        query = query.where(Case.level == level)
    return now, list(session.execute(query).all())


def backlog(session: Session, principal: Principal, level: Level | None = None) -> dict[str, Any]:
    now, rows = open_counts(session, principal.unit_path, level)
    units = sorted(
        (_row(r.level, r, now) | {"unit_code": r.unit_code} for r in rows),
        key=lambda u: (LEVEL_ORDER.index(Level(u["level"])), -u["overdue"], u["unit_code"]),
    )
    by_level: dict[str, dict[str, Any]] = defaultdict(lambda: {c: 0 for c in COUNTS})
    for unit in units:
        total = by_level[unit["level"]]
        for count in COUNTS:
            total[count] += unit[count]
        ages = [a for a in (total.get("oldest_age_seconds"), unit["oldest_age_seconds"]) if a]
        total["oldest_age_seconds"] = max(ages, default=None)
    levels = [
        {"level": name, **by_level[name]}
        for name in (lv.value for lv in LEVEL_ORDER)
        if name in by_level
    ]
    return {"as_of": now, "levels": levels, "units": units}


def _row(level: Level, row: Any, now: datetime) -> dict[str, Any]:
    oldest = row.oldest
    return {
        "level": level.value,
        "pending": row.pending,
        "claimed": row.claimed,
        "overdue": row.overdue,
        "oldest_age_seconds": int((now - oldest).total_seconds()) if oldest else None,
    }
