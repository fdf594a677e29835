"""Intake's append-only audit of the acts that change what conversions stand on: a standard
created, a version published or retired, the catalogue changed, a conversion reversed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from services.intake.conversion.models import AuditRecord
from shared.auth import Principal


def record(
    session: Session, actor: Principal, action: str, target: str, detail: dict[str, Any]
) -> None:
    """Add the record to the caller's transaction. ``detail`` holds no personal data."""
    session.add(
        AuditRecord(
            actor_id=actor.staff_id,
            actor_username=actor.username,
            action=action,
            unit_code=actor.unit_code,
            unit_path=actor.unit_path,
            target=target[:100],
            detail={
                k: str(v) if not isinstance(v, (int, bool, list, dict)) else v
                for k, v in detail.items()
            },
        )
    )


def query(principal: Principal) -> Select[Any]:
    """The records made within the caller's subtree, newest first."""
    return (
        select(AuditRecord)
        .where(AuditRecord.unit_path.startswith(principal.unit_path, autoescape=True))
        .order_by(AuditRecord.id.desc())
    )
