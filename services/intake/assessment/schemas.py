"""Marshmallow schemas of the assessment endpoint: its query and its JSON answer."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from services.intake.assessment.figures import LEVELS, MAX_DAYS
from shared.schemas import UNIT_CODE, Strict

FORMATS = ("json", "csv", "xlsx")


def decimal(description: str, allow_none: bool = False) -> fields.Decimal:
    return fields.Decimal(
        as_string=True,
        allow_none=allow_none,
        metadata={"description": description, "type": "string", "format": "decimal"},
    )


class AssessmentArgs(Strict):
    date_from = fields.Date(
        data_key="from",
        required=True,
        metadata={"description": "first day counted (China time), YYYY-MM-DD"},
    )
    date_to = fields.Date(
        data_key="to",
        required=True,
        metadata={"description": f"last day counted (China time); at most {MAX_DAYS} days in all"},
    )
    by = fields.String(
        required=True,
        validate=validate.OneOf(LEVELS),
        metadata={
            "description": "the level rows are grouped at; county = subcentre, city = branch"
        },
    )
    unit = fields.String(
        validate=UNIT_CODE,
        metadata={"description": "whose figures: a unit in the caller's subtree (default: own)"},
    )
    format = fields.String(
        load_default="json",
        validate=validate.OneOf(FORMATS),
        metadata={"description": "json, or an export with Chinese headers: csv or xlsx"},
    )


class AssessmentRowSchema(Schema):
    unit_code = fields.String()
    level = fields.String(
        metadata={
            "description": "the group's level: `by`, or the level above it for records with no"
            " unit at that level (a point directly under a branch, by county)"
        }
    )
    path = fields.String()
    accounts_opened = fields.Integer()
    deposits = fields.Integer(metadata={"description": "ledger entries posted"})
    deposits_by_kind = fields.Dict(keys=fields.String(), values=fields.Integer())
    social_training_records = fields.Integer()
    social_training_hours = decimal("hours of the social-training records")
    decided = fields.Integer(metadata={"description": "applications approved or rejected"})
    rejected = fields.Integer()
    turnaround_median_hours = decimal("final_at - created_at of those decided", True)
    turnaround_p90_hours = decimal("linear interpolation, as percentile_cont", True)
    rejection_rate = decimal("rejected / decided, 4 decimals", True)
    score = decimal("the sum of weight x indicator, 2 decimals")


class AssessmentSchema(Schema):
    date_from = fields.Date(data_key="from")
    date_to = fields.Date(data_key="to")
    timezone = fields.Constant("Asia/Shanghai", metadata={"type": "string"})
    by = fields.String()
    unit = fields.String(attribute="unit_code")
    unit_path = fields.String()
    final = fields.Boolean(
        metadata={"description": "false while the range reaches today: the figures may grow"}
    )
    weights = fields.Dict(
        keys=fields.String(),
        values=fields.Decimal(as_string=True, metadata={"type": "string", "format": "decimal"}),
        metadata={"description": "the weight of every indicator (0: not counted)"},
    )
    rows = fields.List(fields.Nested(AssessmentRowSchema))
