"""Marshmallow schemas of the certificate endpoints."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from services.intake.certificates.applications import MAX_ENTRIES
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
