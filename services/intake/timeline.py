"""Writing an application's timeline and handing it to review through the outbox."""

from __future__ import annotations

import uuid
from decimal import Decimal
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
DATE_SUFFIXES = ("_date", "_on")  # start_date, end_date, completed_on, issued_on...


def take(
    session: Session,
    principal: Principal,
    kind: ApplicationKind,
    account: Account | None,
    data: dict[str, Any],
    attachments: list[str],
    outcome_kind: str | None = None,
    certificate_number: str | None = None,
) -> Application:
    """A new application, its first version and its first event, and its way into review.
    An import's batch has no account: its records name their learners."""
    application = Application(
        id=uuid.uuid4(),
        kind=kind,
        outcome_kind=outcome_kind,
        status=ApplicationStatus.IN_REVIEW,
        learner=account.learner if account else None,
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
    hand_to_review(session, application)
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
            created_at=utcnow(),
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


def review_request(application: Application) -> dict[str, Any]:
    """The application's current round as review needs it (``shared.contracts.ReviewRequest``):
    routing facts, amounts, evidence and the outcome's dates; no personal data."""
    version = application.versions[-1]
    data = version.data if application.kind != ApplicationKind.ACCOUNT_OPENING else {}
    return {
        "application_id": str(application.id),
        "round": application.round,
        "level": FIRST_LEVEL,
        "kind": application.kind.value,
        "outcome_kind": application.outcome_kind,
        "unit_code": application.unit_code,
        "unit_path": application.unit_path,
        "taken_by_id": application.taken_by_id,
        "credits": _amount(data.get("credits")),
        "hours": _amount(data.get("hours")),
        "certificate_number": application.certificate_number,
        "attachments": list(version.attachments),
        "dates": {k: v for k, v in data.items() if k.endswith(DATE_SUFFIXES) and v},
        "submitted_at": version.created_at.isoformat(),
        **({"batch": batch_summary(data)} if application.kind == ApplicationKind.IMPORT else {}),
    }


BATCH_FACTS = ("rows_total", "records", "invalid", "duplicate", "accounts_opened", "hours_total")


def batch_summary(data: dict[str, Any]) -> dict[str, Any]:
    """An import's batch as review sees it (``shared.contracts.BatchSummary``)."""
    return {
        "import_id": data["import_id"],
        **{name: data[name] for name in BATCH_FACTS},
        "record_rows": data["record_rows"],
    }


def _amount(value: Any) -> str | None:
    return None if value in (None, "") else f"{Decimal(str(value)):.2f}"


def hand_to_review(session: Session, application: Application) -> None:
    """Queue the application's current round for the first review level, in this transaction."""
    outbox.enqueue(
        session,
        Outbox,
        "review.open_case",
        review_request(application),
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
