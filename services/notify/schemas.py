"""Marshmallow schemas of the notify HTTP API."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from services.notify.models import Channel, DeliveryStatus
from shared.contracts import NOTIFY_EVENT_TYPES
from shared.paging import PageArgs
from shared.schemas import Strict


class InboxItemSchema(Schema):
    id = fields.Integer()
    subject = fields.String()
    body = fields.String()
    created_at = fields.AwareDateTime()
    read = fields.Boolean()
    for_role = fields.String(attribute="role", allow_none=True)


class InboxSchema(Schema):
    unread = fields.Integer()
    items = fields.List(fields.Nested(InboxItemSchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class InboxArgs(PageArgs):
    unread = fields.Boolean(metadata={"description": "only what the caller has not read"})


class DeliverySchema(Schema):
    id = fields.UUID()
    event_id = fields.UUID()
    event_type = fields.String()
    channel = fields.String()
    recipient = fields.String(metadata={"description": "staff:<id>, unit:<code>:<role>, learner"})
    unit_code = fields.String()
    subject = fields.String()
    status = fields.String()
    attempts = fields.Integer()
    next_attempt_at = fields.AwareDateTime()
    last_error = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    sent_at = fields.AwareDateTime(allow_none=True)


class DeliveryArgs(PageArgs):
    event_type = fields.String(validate=validate.Length(max=60))
    channel = fields.String(validate=validate.OneOf([c.value for c in Channel]))
    status = fields.String(validate=validate.OneOf([s.value for s in DeliveryStatus]))


class DeliveryPageSchema(Schema):
    items = fields.List(fields.Nested(DeliverySchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class RefusedEventSchema(Schema):
    id = fields.Integer()
    message_id = fields.String(allow_none=True)
    event_type = fields.String(allow_none=True)
    errors = fields.Dict()
    received_at = fields.AwareDateTime()


class DeadLettersSchema(Schema):
    deliveries = fields.List(fields.Nested(DeliverySchema))
    refused_events = fields.List(
        fields.Nested(RefusedEventSchema),
        metadata={"description": "events their contract refused (provincial centre only)"},
    )


class WebhookInSchema(Strict):
    url = fields.Url(
        required=True,
        schemes={"https", "http"},
        require_tld=False,
        validate=validate.Length(max=500),
        metadata={"description": "https:// (http:// only to loopback, outside production)"},
    )
    event_types = fields.List(
        fields.String(validate=validate.OneOf(NOTIFY_EVENT_TYPES)),
        required=True,
        validate=validate.Length(1, 20),
    )


class WebhookSchema(Schema):
    id = fields.Integer()
    url = fields.String()
    event_types = fields.List(fields.String())
    unit_code = fields.String()
    created_at = fields.AwareDateTime()
    secret = fields.String(
        metadata={"description": "the signing secret: in the answer to the registration only"}
    )


class WebhookListSchema(Schema):
    items = fields.List(fields.Nested(WebhookSchema))
