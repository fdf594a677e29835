"""Marshmallow schemas of the certificate endpoints."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from services.intake.certificates.applications import MAX_ENTRIES
from shared.paging import PageArgs
from shared.schemas import Strict, text


class CertificateInSchema(Strict):
    account_number = text(20)
    account_ref = text(200)
    entries = fields.List(
        fields.Integer(validate=validate.Range(min=1)),
        validate=validate.Length(min=1, max=MAX_ENTRIES),
        metadata={"description": "ledger entries to state; none: the whole record"},
    )
    purpose = text(200, metadata={"description": "what it is for (求职, 升学...), as told"})

    @validates_schema
    def _one_account(self, data: dict[str, Any], **_kw: Any) -> None:
        if len([k for k in ("account_number", "account_ref") if data.get(k)]) != 1:
            raise ValidationError(
                "send the account as account_number or as account_ref (one of them)",
                "account_number",
            )


class VerifyInSchema(Strict):
    number = text(20, metadata={"description": "the number printed on the paper, to match"})
    text = fields.String(
        required=True,
        validate=validate.Length(min=1, max=300 * 1024),
        metadata={"description": "a certificate's credential (its JSON text) or its QR payload"},
    )


class VerdictReasonSchema(Schema):
    code = fields.String()
    message = fields.String()


class CertificateRecordSchema(Schema):
    id = fields.UUID()
    status = fields.String(metadata={"description": "valid, suspended or revoked"})
    reason = fields.String(allow_none=True)
    at = fields.AwareDateTime(allow_none=True)


class VerdictSchema(Schema):
    outcome = fields.String(
        metadata={
            "description": "genuine, revoked, suspended, expired, not_yet_valid, "
            "status_unavailable or not_genuine"
        }
    )
    reasons = fields.List(fields.Nested(VerdictReasonSchema))
    status_as_of = fields.AwareDateTime(
        allow_none=True, metadata={"description": "the status lists' date"}
    )
    signed_by = fields.String(allow_none=True, metadata={"description": "the key id (hex)"})
    facts = fields.Dict(
        allow_none=True,
        metadata={"description": "what was signed: number, name, the outcomes, the review chain"},
    )
    claims = fields.Dict(allow_none=True, metadata={"description": "a QR payload's claims"})
    record = fields.Nested(
        CertificateRecordSchema,
        allow_none=True,
        metadata={"description": "the bank's record of it"},
    )


class CertificateSchema(Schema):
    id = fields.UUID()
    number = fields.String()
    status = fields.String(metadata={"description": "valid, suspended or revoked"})
    status_reason = fields.String(allow_none=True)
    status_at = fields.AwareDateTime(allow_none=True)
    issued_at = fields.AwareDateTime()
    valid_until = fields.AwareDateTime(allow_none=True)
    issuing_unit_code = fields.String()
    application_id = fields.UUID()
    verify_url = fields.String(metadata={"description": "its verification page (the QR code)"})


class CertificateDetailSchema(CertificateSchema):
    credential = fields.Dict(metadata={"description": "the signed verifiable credential"})
    payload = fields.String(metadata={"description": "the offline QR payload (ZJCB1:...)"})
    verdict = fields.Nested(VerdictSchema)


class CertificateListArgs(PageArgs):
    account = fields.String(
        validate=validate.Length(max=200),
        metadata={"description": "an account's number or reference"},
    )


class StatusChangeSchema(Strict):
    reason = text(500, required=True)
