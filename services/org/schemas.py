"""Marshmallow schemas of the org HTTP API. Every input schema refuses unknown fields."""

from __future__ import annotations

from marshmallow import Schema, fields, validate
from webargs.fields import DelimitedList

from services.org.accounts import roles_at
from services.org.models import PointState, Role
from services.org.points import POINT_KINDS, POINT_TIERS
from shared.levels import Level
from shared.paging import PageArgs, page_schema
from shared.schemas import Strict, text, unit_code_field

# --- auth -------------------------------------------------------------------------------


class LoginSchema(Strict):
    username = text(64, required=True)
    password = fields.String(
        required=True, validate=validate.Length(min=1, max=128), load_only=True
    )


class RefreshSchema(Strict):
    refresh_token = text(200, required=True)


class TokenSchema(Schema):
    access_token = fields.String()
    refresh_token = fields.String()
    token_type = fields.String()
    expires_in = fields.Integer(metadata={"description": "seconds until the access token expires"})


class MeSchema(Schema):
    staff_id = fields.Integer()
    username = fields.String()
    unit_code = fields.String()
    unit_path = fields.String()
    unit_level = fields.String()
    unit_state = fields.String(
        allow_none=True,
        metadata={"description": "the point's state now (as when signed in if Redis is down)"},
    )
    roles = fields.List(fields.String())


# --- units ------------------------------------------------------------------------------


class UnitSchema(Schema):
    code = fields.String()
    level = fields.Enum(Level, by_value=True)
    name = fields.String()
    host_institution = fields.String(allow_none=True)
    city = fields.String(allow_none=True)
    county = fields.String(allow_none=True)
    parent_code = fields.String(allow_none=True)
    path = fields.String()
    state = fields.Enum(PointState, by_value=True, allow_none=True)
    point_kind = fields.String(allow_none=True)
    point_tier = fields.String(allow_none=True)
    address = fields.String(allow_none=True)
    window_address = fields.String(allow_none=True)
    window_hours = fields.String(allow_none=True)


UnitPageSchema = page_schema(UnitSchema, "UnitPage")


class UnitDetailSchema(UnitSchema):
    staff_roles = fields.Function(
        lambda unit: roles_at(unit.level),
        metadata={
            "type": "array",
            "items": {"type": "string", "enum": [r.value for r in Role]},
            "description": "the roles its staff accounts may hold (a point's admin comes "
            "only from allocation)",
        },
    )


class UnitListArgs(PageArgs):
    level = fields.Enum(Level, by_value=True)
    parent = unit_code_field(
        metadata={"description": "the units directly under it (404 outside your subtree)"}
    )
    q = text(50, metadata={"description": "part of the unit's name"})
    state = fields.Enum(PointState, by_value=True)
    code = DelimitedList(
        unit_code_field(),
        validate=validate.Length(min=1, max=100),
        metadata={
            "description": "only these units, comma-separated (at most 100): their names for a "
            "page that lists codes; a code outside your subtree is simply not among them"
        },
    )


class ComplianceItemSchema(Schema):
    code = fields.String()
    name = fields.String()
    state = fields.Enum(PointState, by_value=True)
    parent_code = fields.String()
    window = fields.Boolean(metadata={"description": "has a service window"})
    management = fields.Boolean()
    technical = fields.Boolean()
    service = fields.Boolean()


CompliancePageSchema = page_schema(ComplianceItemSchema, "CompliancePage")


# --- acceptance points ------------------------------------------------------------------


class PointListingSchema(Strict):
    name = text(100, required=True)
    parent_code = text(16, required=True)
    point_kind = fields.String(required=True, validate=validate.OneOf(POINT_KINDS))
    point_tier = fields.String(required=True, validate=validate.OneOf(POINT_TIERS))
    address = text(200, allow_none=True)


class BatchRowErrorSchema(Schema):
    row = fields.Integer(metadata={"description": "line number in the file, header is 1"})
    field = fields.String()
    reason = fields.String()


class BatchResultSchema(Schema):
    created = fields.List(fields.Nested(UnitSchema))
    errors = fields.List(fields.Nested(BatchRowErrorSchema))


class AllocationRequestSchema(Strict):
    admin_username = text(64, required=True)
    admin_display_name = text(64, required=True)
    admin_phone = fields.String(
        validate=validate.Length(max=20),
        metadata={
            "description": "optional: the activation code is also sent to this mobile number "
            "by SMS (sealed for notify; org does not keep it)"
        },
    )


class AllocationSchema(Schema):
    unit_code = fields.String()
    state = fields.String()
    admin_username = fields.String()
    activation_code = fields.String(metadata={"description": "shown once; stored only hashed"})
    expires_at = fields.AwareDateTime()


class ActivationSchema(Strict):
    username = text(64, required=True)
    activation_code = text(20, required=True)
    password = fields.String(
        required=True, validate=validate.Length(min=1, max=128), load_only=True
    )


class WindowSchema(Strict):
    address = text(200, required=True)
    opening_hours = text(100, required=True)


class SuspendSchema(Strict):
    reason = text(500, required=True)


# --- staff ------------------------------------------------------------------------------


class StaffCreateSchema(Strict):
    username = text(64, required=True)
    display_name = text(64, required=True)
    unit_code = text(16, required=True)
    roles = fields.List(
        fields.String(validate=validate.OneOf([r.value for r in Role])),
        required=True,
        validate=validate.Length(min=1, max=6),
    )
    password = fields.String(
        required=True, validate=validate.Length(min=1, max=128), load_only=True
    )


class StaffSchema(Schema):
    id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    unit_code = fields.String()
    roles = fields.List(fields.String())
    active = fields.Boolean()
    created_at = fields.AwareDateTime()


StaffPageSchema = page_schema(StaffSchema, "StaffPage")


class StaffListArgs(PageArgs):
    unit_code = unit_code_field(
        metadata={"description": "staff of this unit only (404 outside your subtree)"}
    )
    q = text(64, metadata={"description": "part of the username or of the name"})


class AuditSchema(Schema):
    id = fields.Integer()
    at = fields.AwareDateTime()
    actor_id = fields.Integer(allow_none=True)
    actor_username = fields.String(allow_none=True)
    action = fields.String()
    unit_code = fields.String()
    target = fields.String(allow_none=True)
    detail = fields.Dict()
    request_id = fields.String(allow_none=True)


AuditPageSchema = page_schema(AuditSchema, "AuditPage")


class AuditListArgs(PageArgs):
    unit_code = unit_code_field(
        metadata={"description": "records of this unit only (404 outside your subtree)"}
    )
    action = text(50)
