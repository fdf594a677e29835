"""Applications at the window: deposits taken, corrected and resubmitted, withdrawn, read."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from services.intake import handoff, learners, serving, timeline
from services.intake.attachments import require_attachments
from services.intake.context import IntakeContext
from services.intake.conversion import applications as conversions
from services.intake.conversion import catalogue
from services.intake.imports import batches
from services.intake.models import (
    Account,
    AccountStatus,
    Application,
    ApplicationKind,
    ApplicationStatus,
    Learner,
)
from services.intake.outcomes import OUTCOME_SCHEMAS
from services.intake.scope import get_visible, require_window_staff, resolve_unit
from shared.auth import Principal
from shared.db import utcnow
from shared.errors import (
    Conflict,
    FieldError,
    InvalidState,
    ValidationProblem,
    field_errors,
)

TAKEN_NOW = (ApplicationKind.DEPOSIT,)
OPEN_STATES = (ApplicationStatus.IN_REVIEW, ApplicationStatus.RETURNED)


@dataclass(frozen=True)
class Deposit:
    outcome_kind: str
    outcome: dict[str, Any]
    attachments: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CheckedDeposit:
    data: dict[str, Any]  # JSON-ready, as stored in the version
    certificate_number: str | None


@cache
def _schema(kind: str) -> Any:
    # Building a schema costs more than loading with it; one instance per kind and process.
    return OUTCOME_SCHEMAS[kind]()


def check_deposit(session: Session, deposit: Deposit) -> CheckedDeposit:
    """The outcome against its kind's schema, and the evidence the kind requires."""
    schema_class = OUTCOME_SCHEMAS.get(deposit.outcome_kind)
    if schema_class is None:
        raise ValidationProblem(
            "unknown outcome kind",
            [FieldError("outcome_kind", f"must be one of: {', '.join(OUTCOME_SCHEMAS)}")],
        )
    schema = _schema(deposit.outcome_kind)
    try:
        loaded = schema.load(deposit.outcome)
    except ValidationError as exc:
        raise ValidationProblem(
            f"the {deposit.outcome_kind} outcome is not valid",
            field_errors(exc.messages, prefix="outcome"),
        ) from None
    if len(deposit.attachments) < schema_class.min_evidence:
        raise ValidationProblem(
            "evidence is missing",
            [
                FieldError(
                    "attachments",
                    f"{deposit.outcome_kind} requires at least "
                    f"{schema_class.min_evidence} piece of evidence",
                )
            ],
        )
    if loaded.get("catalogue_code") is not None:
        fault = catalogue.certificate_fault(
            session, loaded["catalogue_code"], deposit.outcome_kind, loaded["level"]
        )
        if fault:
            raise ValidationProblem(
                "not a certificate of the catalogue", [FieldError(f"outcome.{fault[0]}", fault[1])]
            )
    require_attachments(session, deposit.attachments)
    return CheckedDeposit(
        schema.dump(loaded),
        loaded.get("certificate_number"),
    )


def take_deposit(
    session: Session,
    ctx: IntakeContext,
    principal: Principal,
    account_named: str,
    deposit: Deposit,
    field_name: str = "account_number",
) -> Application:
    """Take an application to deposit a learning outcome into an open account: one of the
    caller's subtree by its number, or any learner's by the reference their document gave."""
    require_window_staff(principal)
    account, _ = serving.reach(session, ctx, principal, account_named)
    if account.status != AccountStatus.OPEN:
        raise Conflict(
            f"the learning account is {account.status.value}",
            [FieldError(field_name, "the account is not open")],
        )
    checked = check_deposit(session, deposit)
    return handoff.take(
        session,
        principal,
        ApplicationKind.DEPOSIT,
        account,
        checked.data,
        deposit.attachments,
        deposit.outcome_kind,
        checked.certificate_number,
    )


def resubmit(
    session: Session,
    ctx: IntakeContext,
    principal: Principal,
    application_id: uuid.UUID,
    deposit: Deposit | None = None,
    details: learners.LearnerDetails | None = None,
    conversion: conversions.Request | None = None,
) -> Application:
    """A returned application, corrected: a new version and a new round of review."""
    require_window_staff(principal)
    application = get_visible(session, principal, application_id, lock=True)
    if application.status != ApplicationStatus.RETURNED:
        raise InvalidState(
            f"application {application.id} is {application.status.value}; only "
            "a returned application can be resubmitted",
            current_state=application.status.value,
        )
    application.round += 1
    application.version += 1
    application.status = ApplicationStatus.IN_REVIEW
    if application.kind == ApplicationKind.ACCOUNT_OPENING:
        if details is None:
            raise ValidationProblem(
                "send the corrected learner", [FieldError("learner", "required")]
            )
        learner = session.get_one(Learner, application.learner_id, with_for_update=True)
        require_attachments(session, details.attachments)
        data, attachments = learners.correct(session, ctx, learner, details), details.attachments
    elif application.kind == ApplicationKind.CONVERSION:
        if conversion is None:
            raise ValidationProblem(
                "send the corrected conversion", [FieldError("conversion", "required")]
            )
        data, attachments = conversions.resubmit(session, ctx, principal, application, conversion)
    else:
        if deposit is None or deposit.outcome_kind != application.outcome_kind:
            raise ValidationProblem(
                "send the corrected outcome of the same kind",
                [FieldError("outcome_kind", f"must be {application.outcome_kind}")],
            )
        checked = check_deposit(session, deposit)
        application.certificate_number = checked.certificate_number
        data, attachments = checked.data, deposit.attachments
    timeline.add_version(session, application, data, attachments, principal)
    timeline.event(session, application, "resubmitted", principal.staff_id, principal.username)
    handoff.hand_to_review(session, application)
    return application


def withdraw(
    session: Session, principal: Principal, application_id: uuid.UUID, reason: str
) -> Application:
    """Withdraw an application before its final decision."""
    require_window_staff(principal)
    application = get_visible(session, principal, application_id, lock=True)
    if application.status not in OPEN_STATES:
        raise InvalidState(
            f"application {application.id} is {application.status.value}; it can"
            " no longer be withdrawn",
            current_state=application.status.value,
        )
    application.status = ApplicationStatus.WITHDRAWN
    application.final_at = utcnow()
    if application.kind == ApplicationKind.ACCOUNT_OPENING:
        account = session.get_one(Account, application.account_id)
        account.status = AccountStatus.CLOSED
    elif application.kind == ApplicationKind.IMPORT:
        batches.withdraw(session, application, reason)
    elif application.kind == ApplicationKind.CONVERSION:
        conversions.on_ended(session, application)
    timeline.event(
        session, application, "withdrawn", principal.staff_id, principal.username, reason=reason
    )
    handoff.withdraw_from_review(session, application, principal)
    return application


def list_query(
    session: Session,
    principal: Principal,
    status: str | None = None,
    kind: str | None = None,
    outcome_kind: str | None = None,
    unit_code: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Select[Any]:
    """Applications taken in the caller's subtree (or beneath ``unit_code`` in it: 404 for a
    unit outside it), newest first."""
    _, path = resolve_unit(session, principal, unit_code)
    query = select(Application).where(Application.unit_path.startswith(path, autoescape=True))
    for column, value in (
        (Application.status, status),
        (Application.kind, kind),
        (Application.outcome_kind, outcome_kind),
    ):
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(Application.created_at >= since)
    if until is not None:
        query = query.where(Application.created_at < until)
    return query.order_by(Application.created_at.desc(), Application.id)
