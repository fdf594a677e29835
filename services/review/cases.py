"""Cases: opened for the responsible unit of a level, once per application, level and round."""

from __future__ import annotations

import uuid
from typing import Any, cast

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from services.review import routing
from services.review.checks import run_checks
from services.review.context import ReviewContext
from services.review.models import OPEN_STATUSES, Case, CaseStatus
from shared import messages, tracing
from shared.contracts import BatchSummary
from shared.db import utcnow
from shared.levels import Level

BATCH = BatchSummary()


def open_case(session: Session, ctx: ReviewContext, message: messages.ReviewRequest) -> Case | None:
    """Open the case a ``review.open_case`` message asks for; None if it is already open (a
    redelivered message) or no unit exists at that level for the point."""
    level = Level(message["level"])
    unit = routing.responsible_unit(message["unit_path"], level)
    if unit is None:
        return None
    # Named by the level below (an ``OpenCase`` from review itself); found otherwise.
    sent_on = cast(dict[str, Any], message)
    version = int(sent_on.get("route_version") or _route_version(session, message))
    opened_at = utcnow()
    top = (
        Level(sent_on["top_level"])
        if sent_on.get("top_level")
        else routing.top_level(
            session,
            version,
            message["kind"],
            message.get("outcome_kind"),
            message.get("credits"),
            expert=bool(message.get("expert")),
        )
    )
    values = {
        "application_id": message["application_id"],
        "round": message["round"],
        "level": level,
        "unit_code": unit.code,
        "unit_path": unit.path,
        "point_code": message["unit_code"],
        "point_path": message["unit_path"],
        "kind": message["kind"],
        "outcome_kind": message.get("outcome_kind"),
        "taken_by_id": message["taken_by_id"],
        "credits": message.get("credits"),
        "hours": message.get("hours"),
        "certificate_number": message.get("certificate_number"),
        "attachments": message.get("attachments") or [],
        "dates": {k: v.isoformat() for k, v in (message.get("dates") or {}).items()},
        "top_level": top,
        "route_version": version,
        "status": CaseStatus.PENDING,
        "checks": run_checks(session, message, ctx.evidence_store),
        "submitted_at": message["submitted_at"],
        "opened_at": opened_at,
        "due_at": opened_at + ctx.deadlines[level],
        "batch": BATCH.dump(message["batch"]) if message.get("batch") else None,
        "expert": bool(message.get("expert")),
        # The trace that opened it (the submission's, or the lower level's decision's): the
        # decision's own trace links to it.
        "traceparent": tracing.current_traceparent(),
    }
    # The new row comes back as the case itself (no second read); nothing if it was open.
    return session.scalars(
        pg_insert(Case)
        .values(**values)
        .on_conflict_do_nothing(constraint="uq_case")
        .returning(Case)
    ).first()


def _route_version(session: Session, message: messages.ReviewRequest) -> int:
    """The route version the application was first routed under (kept across levels)."""
    earlier = session.scalar(
        select(Case.route_version)
        .where(Case.application_id == message["application_id"])
        .order_by(Case.opened_at)
        .limit(1)
    )
    return earlier or routing.current_version(session)


def withdraw(session: Session, application_id: uuid.UUID, round_: int) -> int:
    """Close the application's open cases of that round; return how many were closed."""
    result = session.execute(
        update(Case)
        .where(
            Case.application_id == application_id,
            Case.round == round_,
            Case.status.in_(OPEN_STATUSES),
        )
        .values(status=CaseStatus.WITHDRAWN, closed_at=utcnow(), closed_reason="withdrawn")
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
