"""What review decided, applied to the application, its account and the ledger.

Idempotent: a message already processed changes nothing (``processed_messages``), and a
decision for another round, or for an application no longer in review, is recorded as stale
and otherwise ignored.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Sequence, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from services.intake import posting, timeline
from services.intake.certificates import issuance
from services.intake.certificates.models import Certificate
from services.intake.context import IntakeContext
from services.intake.conversion import applications as conversions
from services.intake.imports import batches
from services.intake.models import (
    Account,
    AccountStatus,
    Application,
    ApplicationKind,
    ApplicationStatus,
    ApplicationVersion,
    Base,
    EntryKind,
    Learner,
    Outbox,
    ProcessedMessage,
)
from services.intake.outcomes import describe
from shared import messages, outbox, sealing
from shared.db import utcnow
from shared.pii import mask_account_number

log = logging.getLogger(__name__)
ACCOUNT_NUMBER_SEQ = Sequence("account_number_seq", metadata=Base.metadata)


def first_time(session: Session, message_id: Any, task_name: str) -> bool:
    """Record the message as processed; False if it already was."""
    inserted = session.execute(
        pg_insert(ProcessedMessage)
        .values(message_id=message_id, task_name=task_name)
        .on_conflict_do_nothing()
        .returning(ProcessedMessage.message_id)
    ).first()
    return inserted is not None


def apply_decision(session: Session, ctx: IntakeContext, message: messages.ApplyDecision) -> str:
    """Apply one ``intake.apply_decision`` message; return what was done (for the log). A
    decision that ends the round is also told to the learner, through notify."""
    if not first_time(session, message["message_id"], "intake.apply_decision"):
        return "duplicate"
    application = session.get(Application, message["application_id"], with_for_update=True)
    if application is None:
        log.warning(
            "decision for an unknown application",
            extra={"application_id": str(message["application_id"])},
        )
        return "unknown"
    if application.round != message["round"] or application.status != ApplicationStatus.IN_REVIEW:
        return "stale"
    outcome = message["outcome"]
    timeline.event(
        session,
        application,
        outcome,
        message["decided_by_id"],
        message["decided_by"],
        message["level"],
        message.get("reason"),
        unit_code=message.get("unit_code"),
        unit_name=message.get("unit_name"),
    )
    if message.get("rejected_rows") and application.kind == ApplicationKind.IMPORT:
        batches.reject_rows(session, application, message["level"], message["rejected_rows"])
    if outcome == "passed_up":
        return outcome
    {"approved": _approve, "rejected": _reject, "returned": _return}[outcome](session, application)
    issued = None
    if outcome == "approved" and application.kind == ApplicationKind.CERTIFICATE:
        issued = issuance.issue(session, ctx.bank, ctx.cipher, application)
    if application.kind == ApplicationKind.IMPORT:
        batches.finish(session, application, outcome, message["level"], message.get("reason"))
    else:
        _tell_learner(session, ctx, application, message, issued)
    return outcome


def _tell_learner(
    session: Session,
    ctx: IntakeContext,
    application: Application,
    message: messages.ApplyDecision,
    issued: Certificate | None = None,
) -> None:
    """``intake.application_decided`` for notify: plain facts (the account number masked),
    and the learner's phone number (and e-mail address, if given) sealed for notify alone;
    a certificate's number, and its link sealed too (it opens a page with the name)."""
    learner = session.get_one(Learner, application.learner_id)
    account = session.get_one(Account, application.account_id)
    sealed = {
        "phone": sealing.seal(
            ctx.notify_public_pem, ctx.cipher.decrypt(learner.phone_enc, "learner.phone")
        )
    }
    if learner.email_enc:
        email = ctx.cipher.decrypt(learner.email_enc, "learner.email")
        sealed["email"] = sealing.seal(ctx.notify_public_pem, email)
    data = {
        "application_id": str(application.id),
        "kind": application.kind.value,
        "outcome": message["outcome"],
        "level": message["level"],
        "reason": message.get("reason"),
        "account_number": mask_account_number(account.number) if account.number else None,
        "certificate_number": issued.number if issued else None,
    }
    if issued is not None:
        link = ctx.bank.addresses.page(issued.id)
        sealed["certificate_url"] = sealing.seal(ctx.notify_public_pem, link)
    outbox.enqueue(
        session,
        Outbox,
        "notify.deliver",
        {
            "event_type": "intake.application_decided",
            "occurred_at": utcnow().isoformat(),
            "unit_code": application.unit_code,
            "unit_path": application.unit_path,
            "data": {k: v for k, v in data.items() if v is not None},
            "sealed": sealed,
        },
    )


def _approve(session: Session, application: Application) -> None:
    application.status = ApplicationStatus.APPROVED
    application.final_at = utcnow()
    if application.account_id is None:  # an import's batch: its records are posted apart
        return
    account = session.get_one(Account, application.account_id, with_for_update=True)
    if application.kind == ApplicationKind.ACCOUNT_OPENING:
        account.status = AccountStatus.OPEN
        account.number = _account_number(session)
        account.opened_at = utcnow()
    elif application.kind == ApplicationKind.DEPOSIT:
        _post(session, application, account)
    elif application.kind == ApplicationKind.CONVERSION:
        conversions.on_approved(session, application, account)


def _account_number(session: Session) -> str:
    serial = session.scalar(ACCOUNT_NUMBER_SEQ.next_value())
    return f"ZJ{datetime.now(UTC).year}{serial:08d}"


def _post(session: Session, application: Application, account: Account) -> None:
    """Post the approved outcome to the ledger: once per application (its key)."""
    data = session.scalar(
        select(ApplicationVersion.data).where(
            ApplicationVersion.application_id == application.id,
            ApplicationVersion.version == application.version,
        )
    )
    assert data is not None and application.outcome_kind is not None
    posting.post(
        session,
        posting.Posting(
            account_id=account.id,
            entry_kind=EntryKind.DEPOSIT,
            application_id=application.id,
            unit_path=application.unit_path,
            outcome_kind=application.outcome_kind,
            credits=Decimal(data.get("credits") or 0),
            hours=Decimal(data.get("hours") or 0),
            description=describe(application.outcome_kind, data),
        ),
    )


def _reject(session: Session, application: Application) -> None:
    application.status = ApplicationStatus.REJECTED
    application.final_at = utcnow()
    if application.kind == ApplicationKind.ACCOUNT_OPENING:
        account = session.get_one(Account, application.account_id)
        account.status = AccountStatus.CLOSED
    elif application.kind == ApplicationKind.CONVERSION:
        conversions.on_ended(session, application)


def _return(session: Session, application: Application) -> None:
    application.status = ApplicationStatus.RETURNED
