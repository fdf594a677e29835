"""Marshmallow schemas of the intake HTTP API. Personal data only ever leaves masked."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from services.intake.conversion.schemas import ConversionInSchema
from services.intake.learners import VERIFICATION_METHODS
from services.intake.models import ApplicationKind, ApplicationStatus
from services.intake.outcomes import OUTCOME_SCHEMAS, documented_outcome
from shared.identity import DocumentType
from shared.paging import PageArgs, page_schema
from shared.schemas import Strict, text, unit_code_field

SHA256 = validate.Regexp(r"^[0-9a-f]{64}$", error="must be the SHA-256 of an uploaded attachment")


def attachment_list() -> fields.List:
    return fields.List(
        fields.String(validate=SHA256), validate=validate.Length(max=20), load_default=list
    )


class LearnerInSchema(Strict):
    document_type = fields.String(
        required=True, validate=validate.OneOf([d.value for d in DocumentType])
    )
    document_number = text(40, required=True)
    name = text(60, required=True)
    phone = text(20, required=True)
    email = fields.Email(
        validate=validate.Length(max=254),
        metadata={"description": "optional: outcomes are also told by e-mail"},
    )
    verification_method = fields.String(
        required=True, validate=validate.OneOf(VERIFICATION_METHODS)
    )
    gender = fields.String(validate=validate.OneOf(["male", "female"]))
    birth_date = fields.Date()
    attachments = attachment_list()


class DepositInSchema(Strict):
    kind = fields.String(
        load_default="deposit", validate=validate.OneOf([k.value for k in ApplicationKind])
    )
    account_number = text(
        20, metadata={"description": "an account of the caller's subtree; or send account_ref"}
    )
    account_ref = text(
        200,
        metadata={
            "description": "any learner's account, from POST /learners/lookup at this window"
        },
    )
    outcome_kind = fields.String(required=True, validate=validate.OneOf(list(OUTCOME_SCHEMAS)))
    outcome = fields.Dict(required=True, metadata=documented_outcome())
    attachments = attachment_list()

    @validates_schema
    def _one_account(self, data: dict[str, Any], **_kw: Any) -> None:
        given = [k for k in ("account_number", "account_ref") if data.get(k)]
        if len(given) != 1:
            raise ValidationError(
                "send the account as account_number or as account_ref (one of them)",
                "account_number",
            )


class LookupInSchema(Strict):
    document_type = fields.String(
        required=True, validate=validate.OneOf([d.value for d in DocumentType])
    )
    document_number = text(40, required=True)


class ResubmitSchema(Strict):
    conversion = fields.Nested(
        ConversionInSchema,
        metadata={"description": "a conversion's corrected request: required for one"},
    )
    learner = fields.Nested(
        LearnerInSchema,
        metadata={"description": "an account opening's corrected learner: required for one"},
    )
    outcome_kind = fields.String(
        validate=validate.OneOf(list(OUTCOME_SCHEMAS)),
        metadata={"description": "a deposit's kind, as before: required, with outcome, for one"},
    )
    outcome = fields.Dict(metadata=documented_outcome())
    attachments = attachment_list()

    @validates_schema
    def _opening_or_deposit(self, data: dict[str, Any], **_kw: Any) -> None:
        if (
            data.get("learner") is None
            and not data.get("outcome_kind")
            and not data.get("conversion")
        ):
            raise ValidationError(
                "send learner (an opening), outcome_kind with outcome (a deposit) or conversion",
                "learner",
            )
        if data.get("outcome_kind") and data.get("outcome") is None:
            raise ValidationError("required with outcome_kind", "outcome")


class WithdrawSchema(Strict):
    reason = text(500, required=True)


class LearnerOutSchema(Schema):
    name = fields.String(attribute="name_mask", metadata={"description": "masked"})
    document_type = fields.String()
    document_number = fields.String(attribute="document_mask", metadata={"description": "masked"})
    phone = fields.String(attribute="phone_mask", metadata={"description": "masked"})
    email = fields.String(
        attribute="email_mask", allow_none=True, metadata={"description": "masked"}
    )
    gender = fields.String(allow_none=True)
    birth_date = fields.Date(allow_none=True)


class EventSchema(Schema):
    at = fields.AwareDateTime()
    type = fields.String(
        metadata={
            "description": "taken, passed_up, approved, rejected, returned, resubmitted, "
            "withdrawn, reversed (a conversion)"
        }
    )
    round = fields.Integer()
    level = fields.String(allow_none=True)
    unit_code = fields.String(allow_none=True, metadata={"description": "the unit that acted"})
    unit_name = fields.String(allow_none=True, metadata={"description": "its name then"})
    actor_id = fields.Integer(allow_none=True)
    actor = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)


class VersionSchema(Schema):
    version = fields.Integer()
    data = fields.Dict()
    attachments = fields.List(fields.String())
    created_at = fields.AwareDateTime()
    created_by_id = fields.Integer()


class ApplicationSummarySchema(Schema):
    id = fields.UUID()
    kind = fields.String()
    outcome_kind = fields.String(allow_none=True)
    status = fields.String()
    round = fields.Integer()
    version = fields.Integer()
    unit_code = fields.String()
    taken_by = fields.String()
    created_at = fields.AwareDateTime()
    final_at = fields.AwareDateTime(allow_none=True)


class EvidenceSchema(Schema):
    sha256 = fields.String()
    content_type = fields.String(
        metadata={"description": "application/pdf, image/jpeg or image/png"}
    )
    size = fields.Integer()


class ApplicationSchema(ApplicationSummarySchema):
    learner = fields.Nested(LearnerOutSchema)
    account_number = fields.String(
        allow_none=True, metadata={"description": "masked outside the account's home subtree"}
    )
    data = fields.Dict(metadata={"description": "the current version's data"})
    attachments = fields.List(fields.String())
    evidence = fields.List(
        fields.Nested(EvidenceSchema),
        metadata={"description": "the current version's attachments, in order, with their type"},
    )
    versions = fields.List(fields.Nested(VersionSchema))
    timeline = fields.List(fields.Nested(EventSchema))
    handoff = fields.String(
        metadata={
            "description": "queued: on its way to review; delayed: the "
            "queue is unreachable, it is kept and will be sent"
        }
    )


ApplicationPageSchema = page_schema(ApplicationSummarySchema, "ApplicationPage")


class ApplicationListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf([s.value for s in ApplicationStatus]))
    kind = fields.String(validate=validate.OneOf([k.value for k in ApplicationKind]))
    outcome_kind = fields.String(validate=validate.OneOf(list(OUTCOME_SCHEMAS)))
    unit_code = unit_code_field(
        metadata={"description": "taken at this unit or beneath it (404 outside your subtree)"}
    )
    since = fields.AwareDateTime()
    until = fields.AwareDateTime()


class AttachmentSchema(Schema):
    sha256 = fields.String()
    content_type = fields.String()
    size = fields.Integer()
    created_at = fields.AwareDateTime()


class BalanceSchema(Schema):
    outcome_kind = fields.String()
    credits = fields.Decimal(as_string=True)
    hours = fields.Decimal(as_string=True)
    entries = fields.Integer()


class ConvertedSchema(Schema):
    target_institution = fields.String()
    target_programme = fields.String()
    credits = fields.Decimal(as_string=True, metadata={"description": "converted, less reversed"})
    entries = fields.Integer()


class AccountSchema(Schema):
    number = fields.String(
        allow_none=True,
        metadata={
            "description": "whole within the account's home subtree, masked elsewhere; "
            "none until the opening is approved"
        },
    )
    status = fields.String()
    unit_code = fields.String()
    opened_at = fields.AwareDateTime(allow_none=True)
    opened_by_import_id = fields.UUID(
        allow_none=True, metadata={"description": "set when a bulk import opened it collectively"}
    )
    learner = fields.Nested(LearnerOutSchema)
    balances = fields.List(
        fields.Nested(BalanceSchema), metadata={"description": "deposited, by outcome kind"}
    )
    converted = fields.List(
        fields.Nested(ConvertedSchema), metadata={"description": "converted credits, by target"}
    )


class HeldBySchema(Schema):
    application_id = fields.UUID()
    status = fields.String(metadata={"description": "reserved, consumed or reversed"})


class LedgerEntrySchema(Schema):
    id = fields.Integer()
    entry_kind = fields.String(
        metadata={"description": "deposit, import (deposited outcomes), conversion, reversal"}
    )
    application_id = fields.UUID(allow_none=True)
    import_record_id = fields.Integer(
        allow_none=True, metadata={"description": "posted from a bulk import's record instead"}
    )
    outcome_kind = fields.String()
    credits = fields.Decimal(as_string=True)
    hours = fields.Decimal(as_string=True)
    description = fields.String()
    target_institution = fields.String(allow_none=True, metadata={"description": "conversions"})
    target_programme = fields.String(allow_none=True, metadata={"description": "conversions"})
    basis = fields.Dict(
        allow_none=True,
        metadata={"description": "a conversion's standard version, rules and outcomes consumed"},
    )
    held_by = fields.Nested(
        HeldBySchema,
        allow_none=True,
        metadata={"description": "the conversion holding this outcome, if one does"},
    )
    posted_at = fields.AwareDateTime()


LedgerPageSchema = page_schema(LedgerEntrySchema, "LedgerPage")


class LookupSchema(Schema):
    account = fields.Nested(AccountSchema)
    account_ref = fields.String(
        metadata={"description": "lets this window read the account and take its applications"}
    )
    account_ref_expires_at = fields.AwareDateTime()
    opening_application_id = fields.UUID(
        allow_none=True, metadata={"description": "the opening in review, when still pending"}
    )
