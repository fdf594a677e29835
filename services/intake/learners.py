"""Opening a learning account: identity checked, personal data sealed, one account each."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.intake import handoff, serving
from services.intake.attachments import require_attachments
from services.intake.context import IntakeContext
from services.intake.models import (
    Account,
    AccountStatus,
    Application,
    ApplicationKind,
    ApplicationStatus,
    Learner,
)
from services.intake.scope import require_window_staff
from shared.auth import Principal
from shared.errors import Conflict, FieldError, ValidationProblem
from shared.identity import (
    IdentityError,
    IdentityInfo,
    check_agreement,
    parse_identity,
    validate_mobile,
    validate_name,
)
from shared.pii import (
    mask_account_number,
    mask_document_number,
    mask_email,
    mask_name,
    mask_phone,
)

VERIFICATION_METHODS = ("card_reader", "documents_in_person")


@dataclass(frozen=True)
class LearnerDetails:
    document_type: str
    document_number: str
    name: str
    phone: str
    verification_method: str
    gender: str | None = None
    birth_date: date | None = None
    attachments: list[str] = field(default_factory=list)
    email: str | None = None


@dataclass(frozen=True)
class CheckedLearner:
    identity: IdentityInfo
    name: str
    phone: str
    email: str | None = None


def check_details(details: LearnerDetails) -> CheckedLearner:
    """Every identity rule at once; refusals name the field and the reason."""
    errors: list[FieldError] = []
    identity = name = phone = None
    for check in ("identity", "name", "phone"):
        try:
            if check == "identity":
                identity = parse_identity(details.document_type, details.document_number)
                check_agreement(identity, details.birth_date, details.gender)
            elif check == "name":
                name = validate_name(details.name)
            else:
                phone = validate_mobile(details.phone)
        except IdentityError as exc:
            errors.append(FieldError(exc.field, exc.reason))
    if errors:
        raise ValidationProblem("the learner's details are not valid", errors)
    assert identity is not None and name is not None and phone is not None
    email = details.email.strip().lower() if details.email else None
    return CheckedLearner(identity, name, phone, email)


def _existing(session: Session, document_hash: str) -> tuple[Learner, Account] | None:
    row = session.execute(
        select(Learner, Account)
        .join(Account, Account.learner_id == Learner.id)
        .where(Learner.document_hash == document_hash)
        .with_for_update()
    ).first()
    return (row[0], row[1]) if row else None


def _refuse_second_account(
    session: Session,
    ctx: IntakeContext,
    principal: Principal,
    learner: Learner,
    account: Account,
) -> None:
    if account.status == AccountStatus.OPEN:
        # The learner is at this window with their document: the clerk may serve them at once.
        masked = mask_account_number(account.number or "")
        ref, _ = serving.issue_ref(ctx, account.id, principal.unit_code)
        raise Conflict(
            f"this document already has learning account {masked}",
            [FieldError("document_number", f"already has learning account {masked}")],
            existing_account=masked,
            account_ref=ref,
        )
    if account.status == AccountStatus.PENDING:
        pending = session.scalar(
            select(Application.id).where(
                Application.learner_id == learner.id,
                Application.kind == ApplicationKind.ACCOUNT_OPENING,
                Application.status.in_([ApplicationStatus.IN_REVIEW, ApplicationStatus.RETURNED]),
            )
        )
        raise Conflict(
            "an application to open an account for this document is already under way",
            [FieldError("document_number", "an opening application is already under way")],
            existing_application=str(pending),
        )


def name_hash(ctx: IntakeContext, name: str) -> str:
    """The keyed hash a learner's name is compared by: the name itself is stored encrypted."""
    return ctx.cipher.lookup_hash("name", name)


def _seal(ctx: IntakeContext, learner: Learner, checked: CheckedLearner, doc_hash: str) -> None:
    number, phone = checked.identity.number, checked.phone
    learner.document_type = checked.identity.document_type.value
    learner.document_enc = ctx.cipher.encrypt(number, "learner.document_number")
    learner.document_hash = doc_hash
    learner.document_mask = mask_document_number(number)
    learner.name_enc = ctx.cipher.encrypt(checked.name, "learner.name")
    learner.name_hash = name_hash(ctx, checked.name)
    learner.name_mask = mask_name(checked.name)
    learner.gender = checked.identity.gender
    learner.birth_date = checked.identity.birth_date
    learner.phone_enc = ctx.cipher.encrypt(phone, "learner.phone")
    learner.phone_hash = ctx.cipher.lookup_hash("phone", phone)
    learner.phone_mask = mask_phone(phone)
    if checked.email:
        learner.email_enc = ctx.cipher.encrypt(checked.email, "learner.email")
        learner.email_mask = mask_email(checked.email)


def version_data(learner: Learner, details: LearnerDetails) -> dict[str, object]:
    """What an opening's version records: masked, never the numbers themselves."""
    return {
        "document_type": learner.document_type,
        "document_number": learner.document_mask,
        "name": learner.name_mask,
        "gender": learner.gender,
        "birth_date": learner.birth_date.isoformat() if learner.birth_date else None,
        "phone": learner.phone_mask,
        "email": learner.email_mask,
        "verification_method": details.verification_method,
    }


def open_account(
    session: Session, ctx: IntakeContext, principal: Principal, details: LearnerDetails
) -> Application:
    """Take an application to open a learning account (the number comes with approval)."""
    require_window_staff(principal)
    checked = check_details(details)
    require_attachments(session, details.attachments)
    doc_hash = ctx.cipher.lookup_hash(
        f"document:{checked.identity.document_type.value}", checked.identity.number
    )
    found = _existing(session, doc_hash)
    if found:
        learner, account = found
        _refuse_second_account(session, ctx, principal, learner, account)
        account.status = AccountStatus.PENDING
    else:
        learner = Learner(
            unit_code=principal.unit_code,
            unit_path=principal.unit_path,
            created_by=principal.staff_id,
        )
        account = Account(status=AccountStatus.PENDING)
    _seal(ctx, learner, checked, doc_hash)
    learner.unit_code, learner.unit_path = principal.unit_code, principal.unit_path
    account.unit_code, account.unit_path = principal.unit_code, principal.unit_path
    try:
        with session.begin_nested():
            session.add(learner)
            session.flush()
            account.learner = learner
            session.add(account)
            session.flush()
    except IntegrityError:  # the same document, opened at this moment at another window
        found = _existing(session, doc_hash)
        assert found is not None
        _refuse_second_account(session, ctx, principal, *found)
        raise
    return handoff.take(
        session,
        principal,
        ApplicationKind.ACCOUNT_OPENING,
        account,
        version_data(learner, details),
        details.attachments,
    )


def correct(
    session: Session, ctx: IntakeContext, learner: Learner, details: LearnerDetails
) -> dict[str, object]:
    """Apply a returned opening's corrections; the document itself may be corrected too."""
    checked = check_details(details)
    doc_hash = ctx.cipher.lookup_hash(
        f"document:{checked.identity.document_type.value}", checked.identity.number
    )
    if doc_hash != learner.document_hash:
        clash = session.scalar(select(Learner.id).where(Learner.document_hash == doc_hash))
        if clash is not None:
            raise Conflict(
                "another learner already holds this document",
                [FieldError("document_number", "already held by another learner")],
            )
    _seal(ctx, learner, checked, doc_hash)
    return version_data(learner, details)
