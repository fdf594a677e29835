"""Writing an application's timeline and handing it to review through the outbox."""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.intake.models import Application, ApplicationEvent, Outbox
from shared import outbox
from shared.auth import Principal
from shared.db import utcnow

FIRST_LEVEL = "acceptance_point"


def event(
    session: Session,
    application: Application,
    type_: str,
    actor_id: int | None = None,
    actor: str | None = None,
    level: str | None = None,
    reason: str | None = None,
) -> None:
    session.add(
        ApplicationEvent(
            application_id=application.id,
            at=utcnow(),
            type=type_,
            round=application.round,
            level=level,
            actor_id=actor_id,
            actor=actor,
            reason=reason,
        )
    )


def hand_to_review(
    session: Session,
    application: Application,
    attachments: list[str],
    credits: str | None = None,
    hours: str | None = None,
) -> None:
    """Queue the application's current round for the first review level, in this transaction."""
    outbox.enqueue(
        session,
        Outbox,
        "review.open_case",
        {
            "application_id": str(application.id),
            "round": application.round,
            "level": FIRST_LEVEL,
            "kind": application.kind.value,
            "outcome_kind": application.outcome_kind,
            "unit_code": application.unit_code,
            "unit_path": application.unit_path,
            "taken_by_id": application.taken_by_id,
            "credits": credits,
            "hours": hours,
            "certificate_number": application.certificate_number,
            "attachments": attachments,
            "submitted_at": utcnow().isoformat(),
        },
        queue=f"review.{FIRST_LEVEL}",
    )


def withdraw_from_review(session: Session, application: Application, by: Principal) -> None:
    outbox.enqueue(
        session,
        Outbox,
        "review.withdraw_application",
        {
            "application_id": str(application.id),
            "round": application.round,
            "withdrawn_by_id": by.staff_id,
            "withdrawn_at": utcnow().isoformat(),
        },
        queue=f"review.{FIRST_LEVEL}",
    )
