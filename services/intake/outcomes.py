"""Learning outcomes a deposit may carry: one schema per kind, and what each must prove.

Adding a kind is adding a schema here (and its name to ``shared.contracts.OUTCOME_KINDS``).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from shared.schemas import Strict, text

CERTIFICATE_LEVELS = (
    "初级",
    "中级",
    "高级",
    "技师",
    "高级技师",
    "一级",
    "二级",
    "三级",
    "四级",
    "五级",
)
AWARD_LEVELS = ("特等奖", "一等奖", "二等奖", "三等奖", "优秀奖", "金奖", "银奖", "铜奖")


def past_date(**kw: Any) -> fields.Date:
    def not_future(value: date) -> None:
        if value > date.today():
            raise ValidationError("must not be in the future")
        if value.year < 1950:
            raise ValidationError("must not be before 1950")

    return fields.Date(validate=not_future, **kw)


def amount(maximum: str) -> fields.Decimal:
    return fields.Decimal(
        required=True,
        places=2,
        as_string=True,
        validate=validate.Range(min=Decimal("0.5"), max=Decimal(maximum)),
    )


class Outcome(Strict):
    # How many pieces of evidence the kind requires at the least.
    min_evidence = 1


class AcademicCredit(Outcome):
    institution = text(100, required=True)
    course_name = text(100, required=True)
    course_code = text(30)
    credits = amount("30")
    grade = text(20)
    completed_on = past_date(required=True)
    certificate_number = text(64)


class VocationalCertificate(Outcome):
    certificate_name = text(100, required=True)
    catalogue_code = fields.String(
        validate=validate.Regexp(
            r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$", error="not a catalogue code"
        ),
        metadata={"description": "the certificate's code in the conversion catalogue, if listed"},
    )
    certificate_number = text(64, required=True)
    issuing_authority = text(100, required=True)
    level = fields.String(required=True, validate=validate.OneOf(CERTIFICATE_LEVELS))
    issued_on = past_date(required=True)


class SkillCertificate(Outcome):
    skill_name = text(100, required=True)
    catalogue_code = fields.String(
        validate=validate.Regexp(
            r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$", error="not a catalogue code"
        ),
        metadata={"description": "the certificate's code in the conversion catalogue, if listed"},
    )
    level = fields.String(required=True, validate=validate.OneOf(CERTIFICATE_LEVELS))
    certificate_number = text(64, required=True)
    issuing_authority = text(100, required=True)
    issued_on = past_date(required=True)


class SocialTraining(Outcome):
    organiser = text(100, required=True)
    programme = text(100, required=True)
    hours = amount("2000")
    start_date = past_date(required=True)
    end_date = past_date(required=True)
    certificate_number = text(64, required=True)

    @validates_schema
    def _dates_in_order(self, data: dict[str, Any], **_kw: Any) -> None:
        if (
            data.get("start_date")
            and data.get("end_date")
            and data["end_date"] < data["start_date"]
        ):
            raise ValidationError("must not be before start_date", "end_date")


class CompetitionAward(Outcome):
    competition = text(100, required=True)
    organiser = text(100, required=True)
    award = fields.String(required=True, validate=validate.OneOf(AWARD_LEVELS))
    awarded_on = past_date(required=True)
    certificate_number = text(64, required=True)


class OtherOutcome(Outcome):
    title = text(100, required=True)
    description = text(1000, required=True)
    issued_on = past_date(required=True)
    issuer = text(100)
    certificate_number = text(64)


OUTCOME_SCHEMAS: dict[str, type[Outcome]] = {
    "academic_credit": AcademicCredit,
    "vocational_certificate": VocationalCertificate,
    "skill_certificate": SkillCertificate,
    "social_training": SocialTraining,
    "competition_award": CompetitionAward,
    "other": OtherOutcome,
}


def component_name(kind: str) -> str:
    """The outcome's schema as the OpenAPI document names it (``SocialTrainingOutcome``)."""
    return OUTCOME_SCHEMAS[kind].__name__.removesuffix("Outcome") + "Outcome"


def documented_outcome() -> dict[str, Any]:
    """The ``outcome`` field's documentation: one schema per kind, chosen by outcome_kind."""
    return {
        "description": "the outcome's fields, by outcome_kind: "
        + ", ".join(f"{kind}: {component_name(kind)}" for kind in OUTCOME_SCHEMAS),
        "oneOf": [
            {"$ref": f"#/components/schemas/{component_name(kind)}"} for kind in OUTCOME_SCHEMAS
        ],
    }


def describe(kind: str, data: dict[str, Any]) -> str:
    """A one-line description for the ledger (no personal data in any outcome field)."""
    first = {
        "academic_credit": "course_name",
        "vocational_certificate": "certificate_name",
        "skill_certificate": "skill_name",
        "social_training": "programme",
        "competition_award": "competition",
        "other": "title",
    }[kind]
    return str(data[first])[:200]
