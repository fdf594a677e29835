"""The append-only audit record: who did what, when, to which unit."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from services.org.models import AuditRecord, Unit
from shared.auth import Principal
from shared.logs import request_id_var


def record(
    session: Session,
    actor: Principal | None,
    action: str,
    unit: Unit,
    target: str | None = None,
    **detail: Any,
) -> None:
    """Add an audit record to the caller's transaction. ``detail`` holds no personal data."""
    session.add(
        AuditRecord(
            actor_id=actor.staff_id if actor else None,
            actor_username=actor.username if actor else None,
            action=action,
            unit_code=unit.code,
            unit_path=unit.path,
            target=target,
            detail=detail,
            request_id=request_id_var.get(),
        )
    )


def audit_query(principal: Principal, unit_code: str | None, action: str | None) -> Select[Any]:
    query = select(AuditRecord).where(AuditRecord.unit_path.like(f"{principal.unit_path}%"))
    if unit_code:
        query = query.where(AuditRecord.unit_code == unit_code)
    if action:
        query = query.where(AuditRecord.action == action)
    return query.order_by(AuditRecord.id.desc())
