"""Marshmallow schemas of the review HTTP API."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from services.review.decisions import DECISIONS
from shared.contracts import APPLICATION_KINDS, MAX_REJECTED_ROWS, OUTCOME_KINDS
from shared.levels import Level
from shared.paging import PageArgs
from shared.schemas import Strict
from shared.web import ProblemSchema


class CheckSchema(Schema):
    check = fields.String()
    passed = fields.Boolean()
    detail = fields.String()


class CaseSchema(Schema):
    id = fields.UUID()
    application_id = fields.UUID()
    round = fields.Integer()
    level = fields.String()
    unit_code = fields.String()
    point_code = fields.String(metadata={"description": "the acceptance point that took it"})
    kind = fields.String()
    outcome_kind = fields.String(allow_none=True)
    credits = fields.Decimal(as_string=True, allow_none=True)
    hours = fields.Decimal(as_string=True, allow_none=True)
    certificate_number = fields.String(allow_none=True)
    attachments = fields.List(fields.String())
    top_level = fields.String(metadata={"description": "the last level of its route"})
    expert = fields.Boolean(
        metadata={"description": "a conversion outside any rule: one level above its route"}
    )
    route_version = fields.Integer()
    status = fields.String()
    checks = fields.List(fields.Nested(CheckSchema))
    opened_at = fields.AwareDateTime()
    claimed_by = fields.String(allow_none=True)
    claim_expires_at = fields.AwareDateTime(allow_none=True)
    decision = fields.String(allow_none=True)
    decided_by = fields.String(allow_none=True)
    decided_at = fields.AwareDateTime(allow_none=True)
    reason = fields.String(allow_none=True)
    batch = fields.Dict(
        allow_none=True,
        metadata={
            "description": "an import's batch: rows_total, records, invalid, duplicate, "
            "accounts_opened, hours_total and record_rows ([first, last] runs); its sample rows "
            "are read from intake (GET /api/v1/imports/{import_id}/samples), masked"
        },
    )
    rejected_rows = fields.List(fields.Dict(), allow_none=True)


class InboxArgs(PageArgs):
    kind = fields.String(validate=validate.Length(max=40))
    point = fields.String(
        validate=validate.Length(max=16), metadata={"description": "acceptance point code"}
    )
    older_than_hours = fields.Integer(validate=validate.Range(min=0, max=24 * 365))


class InboxSchema(Schema):
    pending = fields.Integer()
    claimed = fields.Integer()
    items = fields.List(fields.Nested(CaseSchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class RejectedRowSchema(Strict):
    row = fields.Integer(required=True, validate=validate.Range(min=2))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=200))


def rejected_rows() -> fields.List:
    return fields.List(
        fields.Nested(RejectedRowSchema),
        validate=validate.Length(max=MAX_REJECTED_ROWS),
        metadata={"description": "an import's batch only: its rows refused, the rest approved"},
    )


class DecisionSchema(Strict):
    decision = fields.String(required=True, validate=validate.OneOf(DECISIONS))
    reason = fields.String(validate=validate.Length(min=1, max=500))
    rejected_rows = rejected_rows()


class BatchDecisionItem(Strict):
    case_id = fields.UUID(required=True)
    decision = fields.String(required=True, validate=validate.OneOf(DECISIONS))
    reason = fields.String(validate=validate.Length(min=1, max=500))
    rejected_rows = rejected_rows()


class BatchDecisionSchema(Strict):
    decisions = fields.List(
        fields.Nested(BatchDecisionItem), required=True, validate=validate.Length(1, 100)
    )


class BatchResultSchema(Schema):
    case_id = fields.UUID()
    status = fields.Integer(metadata={"description": "what this decision alone would answer"})
    case = fields.Nested(
        CaseSchema,
        allow_none=True,
        metadata={"description": "the case as it stands, refused ones of the caller's unit too"},
    )
    problem = fields.Nested(ProblemSchema, allow_none=True)


class BatchResultsSchema(Schema):
    decided = fields.Integer()
    refused = fields.Integer()
    results = fields.List(fields.Nested(BatchResultSchema))


class BacklogArgs(Strict):
    level = fields.String(validate=validate.OneOf([level.value for level in Level]))


class BacklogLevelSchema(Schema):
    level = fields.String()
    pending = fields.Integer(metadata={"description": "open and not claimed (or claim expired)"})
    claimed = fields.Integer()
    overdue = fields.Integer(metadata={"description": "open past the level's deadline"})
    oldest_age_seconds = fields.Integer(allow_none=True)


class BacklogRowSchema(BacklogLevelSchema):
    unit_code = fields.String()


class BacklogSchema(Schema):
    as_of = fields.AwareDateTime()
    levels = fields.List(fields.Nested(BacklogLevelSchema))
    units = fields.List(fields.Nested(BacklogRowSchema))


class RouteSchema(Strict):
    kind = fields.String(required=True, validate=validate.OneOf(APPLICATION_KINDS))
    outcome_kind = fields.String(
        allow_none=True, load_default=None, validate=validate.OneOf(OUTCOME_KINDS)
    )
    top_level = fields.String(
        required=True, validate=validate.OneOf([level.value for level in Level])
    )
    escalate_over_credits = fields.Decimal(
        places=2,
        as_string=True,
        allow_none=True,
        load_default=None,
        validate=validate.Range(min=0, min_inclusive=False, max=1000),
        metadata={"description": "credits above this climb one level further"},
    )


class RouteTableSchema(Strict):
    version = fields.Integer(dump_only=True)
    routes = fields.List(
        fields.Nested(RouteSchema), required=True, validate=validate.Length(1, 100)
    )


class RouteTableArgs(Strict):
    version = fields.Integer(validate=validate.Range(min=1))
