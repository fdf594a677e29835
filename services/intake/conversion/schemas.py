"""Marshmallow schemas of the conversion endpoints: the catalogue, the standards and their
versions, the preview and the application, the reversal."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from services.intake.conversion import caps
from services.intake.conversion.rules import LEVEL_RANK, METHODS, SOURCES
from shared.schemas import Strict, text

CODE = validate.Regexp(
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$", error="1-40 of A-Z, 0-9, '.', '_', '-'"
)
OUTCOME_KINDS = ("vocational_certificate", "skill_certificate")


def amount(low: str, high: str, **kw: Any) -> fields.Decimal:
    return fields.Decimal(
        places=2,
        as_string=True,
        validate=validate.Range(min=Decimal(low), max=Decimal(high)),
        **kw,
    )


def _in_halves(value: Decimal) -> None:
    if value is not None and (value * 2) % 1:
        raise ValidationError("credits are counted in half credits (e.g. 2 or 2.5)")


def credit_field(high: str = "100", **kw: Any) -> fields.Decimal:
    """Credits: from a half credit up, in half credits."""
    return fields.Decimal(
        places=1,
        as_string=True,
        validate=[validate.Range(min=Decimal("0.5"), max=Decimal(high)), _in_halves],
        **kw,
    )


def code(**kw: Any) -> fields.String:
    return fields.String(validate=CODE, **kw)


# --- the catalogue --------------------------------------------------------------------------


class CertificateInSchema(Strict):
    name = text(200, required=True)
    outcome_kind = fields.String(required=True, validate=validate.OneOf(OUTCOME_KINDS))
    levels = fields.List(
        fields.String(validate=validate.OneOf(list(LEVEL_RANK))),
        load_default=list,
        validate=validate.Length(max=10),
        metadata={"description": "the levels it is issued at (none: any)"},
    )


class InstitutionInSchema(Strict):
    name = text(200, required=True)


class ProgrammeInSchema(Strict):
    institution_code = code(required=True)
    name = text(200, required=True)


class CourseInSchema(Strict):
    programme_code = code(required=True)
    name = text(200, required=True)
    credits = credit_field(allow_none=True)


class EntrySchema(Schema):
    code = fields.String()
    name = fields.String()
    outcome_kind = fields.String(metadata={"description": "certificates only"})
    levels = fields.List(fields.String(), metadata={"description": "certificates only"})
    institution_code = fields.String(metadata={"description": "programmes only"})
    programme_code = fields.String(metadata={"description": "courses only"})
    credits = fields.Decimal(
        as_string=True, allow_none=True, metadata={"description": "courses only"}
    )


class CatalogueSchema(Schema):
    certificates = fields.List(fields.Nested(EntrySchema))
    institutions = fields.List(fields.Nested(EntrySchema))
    programmes = fields.List(fields.Nested(EntrySchema))
    courses = fields.List(fields.Nested(EntrySchema))


CATALOGUE_IN = {
    "certificates": CertificateInSchema,
    "institutions": InstitutionInSchema,
    "programmes": ProgrammeInSchema,
    "courses": CourseInSchema,
}


# --- standards ------------------------------------------------------------------------------


class CapSchema(Strict):
    kind = fields.String(required=True, validate=validate.OneOf(caps.KINDS))
    limit = credit_field(
        "10000", required=True, metadata={"description": "credits, or certificates"}
    )
    year_starts = fields.String(
        validate=validate.Regexp(r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$", error="MM-DD"),
        metadata={"description": "per_year only: the day the cap's year starts (01-01)"},
    )


class RuleSchema(Strict):
    number = fields.Integer(dump_only=True)
    id = fields.Integer(dump_only=True)
    source = fields.String(
        required=True,
        validate=validate.OneOf(SOURCES),
        metadata={"description": "certificate (by catalogue_code), training (by organiser), "
                  "course (by source_institution and source_course)"},
    )  # fmt: skip
    catalogue_code = code(allow_none=True)
    organiser = text(100, allow_none=True, metadata={"description": "training: any if none"})
    source_institution = text(100, allow_none=True)
    source_course = text(30, allow_none=True)
    min_level = fields.String(allow_none=True, validate=validate.OneOf(list(LEVEL_RANK)))
    min_hours = amount("0.5", "10000", allow_none=True)
    min_score = amount("0", "1000", allow_none=True)
    max_age_years = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=80))
    target_institution = code(required=True)
    target_programme = code(required=True)
    target_course = code(allow_none=True)
    method = fields.String(
        required=True,
        validate=validate.OneOf(METHODS),
        metadata={"description": "fixed: credits; per_hours: floor(hours / hours_per_credit) "
                  "to a half credit, at most max_credits"},
    )  # fmt: skip
    credits = credit_field(allow_none=True)
    hours_per_credit = amount("0.5", "1000", allow_none=True)
    max_credits = credit_field(allow_none=True)


class StandardVersionInSchema(Strict):
    effective_from = fields.Date(required=True)
    effective_to = fields.Date(allow_none=True)
    caps = fields.List(
        fields.Nested(CapSchema), load_default=list, validate=validate.Length(max=10)
    )
    rules = fields.List(
        fields.Nested(RuleSchema), load_default=list, validate=validate.Length(max=10000)
    )
    note = text(1000, allow_none=True)


class StandardInSchema(StandardVersionInSchema):
    code = code(required=True)
    name = text(200, required=True)


class RetireSchema(Strict):
    reason = text(500, required=True)


class DayArgs(Strict):
    on = fields.Date(metadata={"description": "the version in force on this day (default: today)"})


class StandardVersionSchema(Schema):
    version = fields.Integer()
    status = fields.String(metadata={"description": "draft, published or retired"})
    effective_from = fields.Date()
    effective_to = fields.Date(allow_none=True)
    caps = fields.List(fields.Dict())
    note = fields.String(allow_none=True)
    published_by = fields.String(allow_none=True)
    published_at = fields.AwareDateTime(allow_none=True)
    retired_at = fields.AwareDateTime(allow_none=True)
    retired_reason = fields.String(allow_none=True)
    rules = fields.List(fields.Nested(RuleSchema))


class StandardVersionSummarySchema(Schema):
    version = fields.Integer()
    status = fields.String()
    effective_from = fields.Date()
    effective_to = fields.Date(allow_none=True)


class StandardSchema(Schema):
    code = fields.String()
    name = fields.String()
    publisher_code = fields.String()
    versions = fields.List(fields.Nested(StandardVersionSummarySchema))
    in_force = fields.Nested(StandardVersionSchema, allow_none=True)


class StandardListSchema(Schema):
    items = fields.List(fields.Nested(StandardSchema))


# --- conversion applications ----------------------------------------------------------------


class TargetSchema(Strict):
    institution = code(required=True)
    programme = code(required=True)
    course = code(allow_none=True)


class ExpertSchema(Strict):
    credits = credit_field(required=True)
    reason = text(1000, required=True)


class ConversionInSchema(Strict):
    account_number = text(20)
    account_ref = text(200)
    standard = code(required=True, metadata={"description": "the standard's code"})
    outcomes = fields.List(
        fields.Integer(validate=validate.Range(min=1)),
        required=True,
        validate=validate.Length(min=1, max=50),
        metadata={"description": "ledger entries of the account's deposited outcomes"},
    )
    target = fields.Nested(TargetSchema, required=True)
    expert = fields.Nested(
        ExpertSchema,
        allow_none=True,
        metadata={"description": "a conversion outside any rule: it climbs one level higher"},
    )

    @validates_schema
    def _one_account(self, data: dict[str, Any], **_kw: Any) -> None:
        if len([k for k in ("account_number", "account_ref") if data.get(k)]) != 1:
            raise ValidationError(
                "send the account as account_number or as account_ref (one of them)",
                "account_number",
            )


class ProblemItemSchema(Schema):
    field = fields.String()
    reason = fields.String()


class CandidateSchema(Schema):
    rule = fields.Integer(metadata={"description": "the rule's number in its version"})
    credits = fields.Decimal(as_string=True, allow_none=True)
    unmet = fields.String(allow_none=True, metadata={"description": "why it does not apply"})


class OutcomePreviewSchema(Schema):
    entry_id = fields.Integer()
    kind = fields.String()
    title = fields.String()
    rule = fields.Integer(allow_none=True, metadata={"description": "the rule taken"})
    credits = fields.Decimal(as_string=True)
    candidates = fields.List(fields.Nested(CandidateSchema))


class PreviewSchema(Schema):
    standard = fields.Dict(metadata={"description": "code, name, version"})
    applied_on = fields.Date()
    outcomes = fields.List(fields.Nested(OutcomePreviewSchema))
    caps = fields.List(
        fields.Dict(), metadata={"description": "kind, limit, used, asked, exceeded"}
    )
    credits = fields.Decimal(as_string=True)
    problems = fields.List(fields.Nested(ProblemItemSchema))
    conflicts = fields.List(
        fields.Nested(ProblemItemSchema),
        metadata={"description": "outcomes another conversion holds"},
    )
    ok = fields.Boolean(metadata={"description": "it may be applied for as it stands"})


class ReversalInSchema(Strict):
    reason = text(500, required=True)
