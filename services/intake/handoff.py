"""An application taken and handed to review: created with its first version and event, and,
in the same transaction, its round sent to review's first level through the outbox (or its
withdrawal told). What review is told is the ``shared.contracts.ReviewRequest``: routing
facts, amounts, evidence and the outcome's dates, never personal data."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from services.intake import timeline
from services.intake.models import (
    Account,
    Application,
    ApplicationKind,
    ApplicationStatus,
    Outbox,
)
from shared import contracts, outbox
from shared.auth import Principal
from shared.db import utcnow
from shared.levels import FIRST_LEVEL, review_queue

DATE_SUFFIXES = ("_date", "_on")  # start_date, end_date, completed_on, issued_on...
BATCH_FACTS = ("rows_total", "records", "invalid", "duplicate", "accounts_opened", "hours_total")


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
    timeline.add_version(session, application, data, attachments, principal)
    timeline.event(
        session,
        application,
        "taken",
        principal.staff_id,
        principal.username,
        unit_code=principal.unit_code,
        unit_name=principal.unit_name,
    )
    hand_to_review(session, application)
    return application


def review_request(application: Application) -> dict[str, Any]:
    """The application's current round as review's first level needs it."""
    version = application.versions[-1]
    data = version.data if application.kind != ApplicationKind.ACCOUNT_OPENING else {}
    return contracts.review_request(
        application_id=application.id,
        round=application.round,
        level=FIRST_LEVEL,
        kind=application.kind.value,
        outcome_kind=application.outcome_kind,
        unit_code=application.unit_code,
        unit_path=application.unit_path,
        taken_by_id=application.taken_by_id,
        credits=data.get("credits"),
        hours=data.get("hours"),
        certificate_number=application.certificate_number,
        attachments=version.attachments,
        dates={k: v for k, v in data.items() if k.endswith(DATE_SUFFIXES) and v},
        submitted_at=version.created_at,
        batch=batch_summary(data) if application.kind == ApplicationKind.IMPORT else None,
        expert=bool(data.get("expert"))
        if application.kind == ApplicationKind.CONVERSION
        else False,
    )


def batch_summary(data: dict[str, Any]) -> dict[str, Any]:
    """An import's batch as review sees it (``shared.contracts.BatchSummary``)."""
    return {
        "import_id": data["import_id"],
        **{name: data[name] for name in BATCH_FACTS},
        "record_rows": data["record_rows"],
    }


def hand_to_review(session: Session, application: Application) -> None:
    """Queue the application's current round for the first review level, in this transaction."""
    outbox.enqueue(
        session,
        Outbox,
        "review.open_case",
        review_request(application),
        queue=review_queue(FIRST_LEVEL),
    )


def withdraw_from_review(session: Session, application: Application, by: Principal) -> None:
    """Tell review the application was withdrawn: its open case closes."""
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
        queue=review_queue(FIRST_LEVEL),
    )
