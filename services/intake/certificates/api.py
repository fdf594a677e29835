"""The certificate endpoints: the application at the window; what the bank publishes (the
key list, the status lists) and verification, for anyone; the certificates for staff, and
their suspension and revocation."""

from __future__ import annotations

import json
import uuid
from typing import Any

from flask import Response
from flask_smorest import Blueprint

from services.intake import serving
from services.intake.api import BEARER, IDEMPOTENCY, idempotent
from services.intake.certificates import applications as certificates
from services.intake.certificates import records
from services.intake.certificates import schemas as s
from services.intake.certificates.bank import PURPOSES
from services.intake.certificates.models import Certificate, CertificateStatus
from services.intake.context import context, db
from shared.auth import current_principal
from shared.db import utcnow
from shared.errors import NotFound
from shared.paging import page_schema, paginate

blp = Blueprint("certificates", __name__, description="Learning-outcome certificates")


@blp.post("/certificate-applications")
@blp.arguments(s.CertificateInSchema)
@blp.response(201, description="the certificate application, as GET /applications/{id} shows it")
@blp.alt_response(404, description="no such account within the caller's reach")
@blp.alt_response(409, description="the account is not open")
@blp.doc(security=BEARER, parameters=[IDEMPOTENCY])
def apply(body: dict[str, Any]) -> Response:
    """Apply for a certificate of the whole record or of chosen entries: it states each as
    the ledger holds it now, is reviewed like any application, and is issued once on its
    final approval."""
    principal = current_principal()
    return idempotent(
        "certificate-applications",
        body,
        lambda: certificates.take(db.session, context(), principal, certificates.request_of(body)),
    )


# --- what the bank publishes, and verification: for anyone, without signing in -----------


@blp.get("/certificate-keys")
@blp.response(200, description="the key list, signed by its current key")
def key_list() -> Response:
    """Every certificate signing key, retired ones too, each with its window: what a
    verifier needs (offline, a copy of it)."""
    return _public_json(context().bank.key_list_document(utcnow()))


@blp.get("/status-lists/<purpose>")
@blp.response(200, description="a BitstringStatusListCredential, signed")
@blp.alt_response(404, description="no such list")
@blp.doc(
    parameters=[{"name": "purpose", "in": "path", "required": True,
                 "schema": {"type": "string", "enum": list(PURPOSES)}}],
)  # fmt: skip
def status_list(purpose: str) -> Response:
    """The revocation or the suspension list as it stands now (131,072 entries)."""
    if purpose not in PURPOSES:
        raise NotFound(f"status list {purpose} not found")
    return _public_json(context().bank.status_document(db.session, purpose, utcnow()))


@blp.post("/verify")
@blp.arguments(s.VerifyInSchema)
@blp.response(200, s.VerdictSchema)
def verify(body: dict[str, Any]) -> dict[str, Any]:
    """The verdict on a certificate's credential (JSON text) or QR payload: genuine,
    revoked, suspended, expired, not yet valid, status unavailable or not genuine, with
    every reason and what was signed; never text taken from a PDF."""
    ctx = context()
    return records.judged(
        db.session, ctx.bank, ctx.cipher, body["text"], utcnow(), body.get("number")
    )


@blp.get("/certificates/<uuid:certificate_id>")
@blp.response(200, s.CertificateDetailSchema)
@blp.alt_response(404, description="no certificate at this address")
def get_certificate(certificate_id: uuid.UUID) -> dict[str, Any]:
    """A certificate as its QR code's address shows it (the address is random: who has the
    paper has it): the signed credential, the offline payload, and the verdict now."""
    ctx = context()
    certificate = records.get(db.session, certificate_id)
    text = records.credential_text(ctx.cipher, certificate)
    return {
        **_summary(certificate),
        "credential": json.loads(text),
        "payload": records.payload_text(ctx.cipher, certificate),
        "verdict": records.judged(db.session, ctx.bank, ctx.cipher, text, utcnow()),
    }


@blp.get("/certificates/<uuid:certificate_id>/pdf")
@blp.response(
    200,
    {"type": "string", "format": "binary"},
    description="the certificate for printing: an A4 PDF in Chinese with its QR code",
    content_type="application/pdf",
)
@blp.alt_response(404, description="no certificate at this address")
@blp.alt_response(409, description="a character of it no font can print (named)")
def certificate_pdf(certificate_id: uuid.UUID) -> Response:
    """The printable certificate, rendered from its signed credential (public, like the
    certificate itself: its random address is what lets one have it). Its QR code opens
    the verification page and carries the offline payload after ``#``."""
    certificate = records.get(db.session, certificate_id)
    data = records.pdf_of(db.session, context(), certificate)
    db.session.commit()  # kept for the next print
    response = Response(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = (
        f'inline; filename="certificate-{certificate.number}.pdf"'
    )
    response.headers["Cache-Control"] = "private, no-store"  # it holds the learner's name
    return response


# --- for staff -------------------------------------------------------------------------------


@blp.get("/certificates")
@blp.arguments(s.CertificateListArgs, location="query")
@blp.response(200, page_schema(s.CertificateSchema, "CertificatePage"))
@blp.alt_response(404, description="no such account within the caller's reach")
@blp.doc(security=BEARER)
def list_certificates(args: dict[str, Any]) -> dict[str, Any]:
    """The certificates taken or issued in the caller's subtree, newest first; of one
    account with ``account``."""
    principal = current_principal()
    account_id = None
    if args.get("account"):
        account, _ = serving.reach(db.session, context(), principal, args["account"])
        account_id = account.id
    page = paginate(
        db.session, records.listing(principal, account_id), args["page"], args["per_page"]
    )
    return {**page, "items": [_summary(c) for c in page["items"]]}


def _change(certificate_id: uuid.UUID, status: CertificateStatus, reason: str) -> Any:
    certificate = records.set_status(
        db.session, current_principal(), certificate_id, status, reason
    )
    answer = _summary(certificate)
    db.session.commit()
    return answer


@blp.post("/certificates/<uuid:certificate_id>/suspension")
@blp.arguments(s.StatusChangeSchema)
@blp.response(200, s.CertificateSchema)
@blp.alt_response(404, description="no such certificate within the caller's subtree")
@blp.alt_response(409, description="not valid")
@blp.doc(security=BEARER)
def suspend(body: dict[str, str], certificate_id: uuid.UUID) -> Any:
    """Suspend a certificate while something it states is looked into (the issuing unit or
    one above it; audited)."""
    return _change(certificate_id, CertificateStatus.SUSPENDED, body["reason"])


@blp.post("/certificates/<uuid:certificate_id>/reinstatement")
@blp.arguments(s.StatusChangeSchema)
@blp.response(200, s.CertificateSchema)
@blp.alt_response(404, description="no such certificate within the caller's subtree")
@blp.alt_response(409, description="not suspended")
@blp.doc(security=BEARER)
def reinstate(body: dict[str, str], certificate_id: uuid.UUID) -> Any:
    """Lift a suspension: the certificate is valid again."""
    return _change(certificate_id, CertificateStatus.VALID, body["reason"])


@blp.post("/certificates/<uuid:certificate_id>/revocation")
@blp.arguments(s.StatusChangeSchema)
@blp.response(200, s.CertificateSchema)
@blp.alt_response(404, description="no such certificate within the caller's subtree")
@blp.alt_response(409, description="revoked already")
@blp.doc(security=BEARER)
def revoke(body: dict[str, str], certificate_id: uuid.UUID) -> Any:
    """Revoke a certificate, for good (the issuing unit or one above it; audited)."""
    return _change(certificate_id, CertificateStatus.REVOKED, body["reason"])


def _summary(certificate: Certificate) -> dict[str, Any]:
    return {
        "id": certificate.id,
        "number": certificate.number,
        "status": certificate.status.value,
        "status_reason": certificate.status_reason,
        "status_at": certificate.status_at,
        "issued_at": certificate.issued_at,
        "valid_until": certificate.valid_until,
        "issuing_unit_code": certificate.issuing_unit_code,
        "application_id": certificate.application_id,
        "verify_url": context().bank.addresses.page(certificate.id),
    }


def _public_json(document: Any) -> Response:
    response = Response(json.dumps(document, ensure_ascii=False), mimetype="application/json")
    response.headers["Cache-Control"] = "no-cache"
    return response
