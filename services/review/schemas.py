"""Marshmallow schemas of the review HTTP API."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from services.review.decisions import DECISIONS
from shared.paging import PageArgs


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


class DecisionSchema(Schema):
    class Meta:
        unknown = RAISE

    decision = fields.String(required=True, validate=validate.OneOf(DECISIONS))
    reason = fields.String(validate=validate.Length(min=1, max=500))
