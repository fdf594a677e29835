"""Writing an application's timeline and handing it to review through the outbox."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from services.intake.models import (
    Account,
    Application,
    ApplicationEvent,
    ApplicationKind,
    ApplicationStatus,
    ApplicationVersion,
    Outbox,
)
from shared import outbox
from shared.auth import Principal
from shared.db import utcnow

FIRST_LEVEL = "acceptance_point"


def take(
    session: Session,
    principal: Principal,
    kind: ApplicationKind,
    account: Account,
    data: dict[str, Any],
    attachments: list[str],
    outcome_kind: str | None = None,
    certificate_number: str | None = None,
    credits: str | None = None,
    hours: str | None = None,
) -> Application:
    """A new application, its first version and its first event, and its way into review."""
    application = Application(
        id=uuid.uuid4(),
        kind=kind,
        outcome_kind=outcome_kind,
        status=ApplicationStatus.IN_REVIEW,
        learner=account.learner,
        account=account,
        unit_code=principal.unit_code,
        unit_path=principal.unit_path,
        taken_by_id=principal.staff_id,
        taken_by=principal.username,
        round=1,
        version=1,
        certificate_number=certificate_number,
    )
    session.add(application)
    add_version(session, application, data, attachments, principal)
    event(session, application, "taken", principal.staff_id, principal.username)
    hand_to_review(session, application, attachments, credits, hours)
    return application


def add_version(
    session: Session,
    application: Application,
    data: dict[str, Any],
    attachments: list[str],
    principal: Principal,
) -> None:
    application.versions.append(
        ApplicationVersion(
            version=application.version,
            data=data,
            attachments=attachments,
            created_by_id=principal.staff_id,
        )
    )


def event(
    session: Session,
    application: Application,
    type_: str,
    actor_id: int | None = None,
    actor: str | None = None,
    level: str | None = None,
    reason: str | None = None,
) -> None:
    application.events.append(
        ApplicationEvent(
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
