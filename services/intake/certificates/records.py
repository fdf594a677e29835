"""The bank's records of its certificates: a certificate as its holder (or anyone with its
address) reads it, the verdict on a text presented to the bank, the certificates a staff
member may list, and their suspension, lifting and revocation (by the issuing level or a
unit above it, with a reason, audited; a revocation is for good)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from services.intake.certificates import cose, credential, fonts, jcs, pdf
from services.intake.certificates import verify as verifying
from services.intake.certificates.bank import Bank
from services.intake.certificates.models import Certificate, CertificateStatus
from services.intake.conversion import audit
from services.intake.models import Account
from shared.auth import Principal
from shared.db import utcnow
from shared.errors import Conflict, FieldError, Forbidden, InvalidState, NotFound, ValidationProblem
from shared.identity import DOCUMENT_NAMES
from shared.pii import mask_document_number

DECIDING_ROLES = ("admin", "reviewer")
MAX_TEXT = 300 * 1024


def get(session: Session, certificate_id: uuid.UUID) -> Certificate:
    found = session.get(Certificate, certificate_id)
    if found is None:
        raise NotFound(f"certificate {certificate_id} not found")
    return found


def credential_text(cipher: Any, certificate: Certificate) -> str:
    return str(cipher.decrypt(certificate.credential_enc, "certificate.credential"))


def payload_text(cipher: Any, certificate: Certificate) -> str:
    return str(cipher.decrypt(certificate.payload_enc, "certificate.payload"))


def printed(session: Session, bank: Bank, cipher: Any, certificate: Certificate) -> pdf.Printed:
    """What the paper of a certificate shows: its signed facts (read back from the stored
    credential, never from anything else), the learner's document masked, its address,
    and the QR code's text (the address with the offline payload)."""
    facts = credential.facts_of(jcs.loads(credential_text(cipher, certificate)))
    learner = session.get_one(Account, certificate.account_id).learner
    number = cipher.decrypt(learner.document_enc, "learner.document_number")
    document = f"{DOCUMENT_NAMES.get(learner.document_type, '证件')} {mask_document_number(number)}"
    page = bank.addresses.page(certificate.id)
    qr = cose.scan_text(page, payload_text(cipher, certificate))
    return pdf.printed_of(facts, document, page, qr)


def pdf_of(session: Session, ctx: Any, certificate: Certificate) -> bytes:
    """The certificate's PDF: rendered the first time it is asked for and kept, encrypted
    (409 if a character of it has no font). Two first asks at once both render; either
    copy is the certificate, and the last written stays."""
    if certificate.pdf_enc is not None:
        return bytes(ctx.cipher.decrypt_bytes(certificate.pdf_enc, "certificate.pdf"))
    try:
        data = pdf.render(
            printed(session, ctx.bank, ctx.cipher, certificate),
            fonts.prepared(Path(ctx.settings.fonts_dir)),
        )
    except fonts.MissingGlyphs as exc:
        raise Conflict(
            f"certificate {certificate.number} cannot be printed: {exc.message}",
            missing=exc.characters,
        ) from exc
    certificate.pdf_enc = ctx.cipher.encrypt_bytes(data, "certificate.pdf")
    return data


def judged(
    session: Session,
    bank: Bank,
    cipher: Any,
    text: str,
    now: datetime,
    number: str | None = None,
) -> dict[str, Any]:
    """The verdict on a credential's JSON text or a QR payload, as the bank answers it:
    the outcome, every reason, what was signed (and, for a QR payload of one of ours, the
    review chain its credential states), and a revocation's or suspension's reason from
    the records. ``number``: the number printed on the paper, which the signed one must be
    (a QR code copied onto another certificate is not that certificate's)."""
    if len(text) > MAX_TEXT:
        raise ValidationProblem(
            "too long to be a certificate", [FieldError("text", f"at most {MAX_TEXT} characters")]
        )
    verdict = verifying.verify(text, bank.key_list(now), bank.status_source(session, now), now)
    signed_number = (
        verdict.facts.number if verdict.facts else verdict.claims.number if verdict.claims else None
    )
    if number is not None and signed_number is not None and signed_number != number.strip():
        verdict = dataclasses.replace(
            verdict,
            outcome=verifying.Outcome.NOT_GENUINE,
            reasons=(
                verifying.Reason(
                    "NUMBER_MISMATCH",
                    f"it is the signature of certificate {signed_number}, not of {number}",
                ),
                *verdict.reasons,
            ),
        )
    record = (
        session.scalar(select(Certificate).where(Certificate.number == signed_number))
        if signed_number
        else None
    )
    facts = verdict.facts
    if facts is None and verdict.claims is not None and record is not None:
        # What a QR code carries is brief: the review chain is the credential's own.
        facts = credential.facts_of(jcs.loads(credential_text(cipher, record)))
    return {
        "outcome": verdict.outcome.value,
        "reasons": [{"code": r.code, "message": r.message} for r in verdict.reasons],
        "status_as_of": verdict.status_as_of,
        "signed_by": verdict.key.kid_hex if verdict.key else None,
        "facts": _plain(facts) if facts else None,
        "claims": _plain(verdict.claims) if verdict.claims else None,
        "record": (
            {
                "id": record.id,
                "status": record.status.value,
                "reason": record.status_reason,
                "at": record.status_at,
            }
            if record is not None and verdict.outcome != verifying.Outcome.NOT_GENUINE
            else None
        ),
    }


def _plain(value: Any) -> Any:
    """A dataclass of signed facts as JSON-ready values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def listing(principal: Principal, account_id: int | None = None) -> Select[Any]:
    """The certificates issued in the caller's subtree (taken there, or issued by it)."""
    query = select(Certificate).where(
        Certificate.unit_path.startswith(principal.unit_path, autoescape=True)
        | Certificate.issuing_unit_path.startswith(principal.unit_path, autoescape=True)
    )
    if account_id is not None:
        query = query.where(Certificate.account_id == account_id)
    return query.order_by(Certificate.issued_at.desc())


def set_status(
    session: Session,
    principal: Principal,
    certificate_id: uuid.UUID,
    status: CertificateStatus,
    reason: str,
) -> Certificate:
    """Suspend (from valid), lift a suspension (back to valid) or revoke (from valid or
    suspended, for good). By the issuing unit or one above it; audited."""
    certificate = session.get(Certificate, certificate_id, with_for_update=True)
    if certificate is None or not (
        principal.covers(certificate.unit_path) or principal.covers(certificate.issuing_unit_path)
    ):
        raise NotFound(f"certificate {certificate_id} not found")
    if not principal.covers(certificate.issuing_unit_path) or not principal.has_any(
        *DECIDING_ROLES
    ):
        raise Forbidden(
            f"certificate {certificate.number} is suspended or revoked by "
            f"{certificate.issuing_unit_code}, which issued it, or a unit above it"
        )
    allowed = {
        CertificateStatus.SUSPENDED: (CertificateStatus.VALID,),
        CertificateStatus.VALID: (CertificateStatus.SUSPENDED,),
        CertificateStatus.REVOKED: (CertificateStatus.VALID, CertificateStatus.SUSPENDED),
    }[status]
    if certificate.status not in allowed:
        raise InvalidState(
            f"certificate {certificate.number} is {certificate.status.value}",
            current_state=certificate.status.value,
        )
    action = {
        CertificateStatus.SUSPENDED: "suspended",
        CertificateStatus.VALID: "reinstated",
        CertificateStatus.REVOKED: "revoked",
    }[status]
    certificate.status = status
    certificate.status_reason = reason
    certificate.status_by, certificate.status_at = principal.username, utcnow()
    audit.record(
        session, principal, f"certificate.{action}", certificate.number, {"reason": reason}
    )
    session.flush()
    return certificate
