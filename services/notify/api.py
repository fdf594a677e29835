"""The notify HTTP API: the staff inbox, the delivery log, the dead letters and webhooks."""

from __future__ import annotations

import uuid
from typing import Any

from flask import current_app
from flask_smorest import Blueprint

from services.notify import delivery_log, webhooks
from services.notify import inbox as inbox_rules
from services.notify import schemas as s
from services.notify.context import db
from services.notify.models import Delivery
from shared.auth import current_principal
from shared.paging import paginate

blp = Blueprint(
    "notify", __name__, description="Staff inbox, webhooks, delivery log and dead letters"
)
BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]


@blp.get("/inbox")
@blp.arguments(s.InboxArgs, location="query")
@blp.response(200, s.InboxSchema)
@blp.doc(security=BEARER)
def inbox(args: dict[str, Any]) -> dict[str, Any]:
    """The caller's messages, newest first, with the number unread."""
    return inbox_rules.page(
        db.session, current_principal(), bool(args.get("unread")), args["page"], args["per_page"]
    )


@blp.post("/inbox/<bigint:item_id>/read")
@blp.response(204)
@blp.doc(security=BEARER)
def mark_read(item_id: int) -> None:
    """Mark one of the caller's messages read (again is harmless)."""
    inbox_rules.mark_read(db.session, current_principal(), item_id)
    db.session.commit()


@blp.get("/deliveries")
@blp.arguments(s.DeliveryArgs, location="query")
@blp.response(200, s.DeliveryPageSchema)
@blp.doc(security=BEARER)
def deliveries(args: dict[str, Any]) -> dict[str, Any]:
    """The delivery log of the caller's unit and every unit beneath it, newest first."""
    filters = {name: args.get(name) for name in ("event_type", "channel", "status")}
    query = delivery_log.log_query(current_principal(), **filters)
    return paginate(db.session, query, args["page"], args["per_page"])


@blp.get("/dead-letters")
@blp.response(200, s.DeadLettersSchema)
@blp.doc(security=BEARER)
def dead_letters() -> dict[str, Any]:
    """Deliveries that could not be made (in the caller's scope), and, for the provincial
    centre, events their contract refused."""
    return delivery_log.dead_letters(db.session, current_principal())


@blp.post("/dead-letters/<uuid:delivery_id>/redrive")
@blp.response(200, s.DeliverySchema)
@blp.alt_response(409, description="the delivery is not dead")
@blp.doc(security=BEARER)
def redrive(delivery_id: uuid.UUID) -> Delivery:
    """Try a dead delivery again from its first attempt (administrators)."""
    found = delivery_log.redrive(db.session, current_principal(), delivery_id)
    db.session.commit()
    return found


@blp.post("/webhooks")
@blp.arguments(s.WebhookInSchema)
@blp.response(201, s.WebhookSchema)
@blp.doc(security=BEARER)
def register_webhook(body: dict[str, Any]) -> dict[str, Any]:
    """Register a front end's endpoint for events of the caller's unit and beneath; the
    signing secret is in this answer only."""
    production = current_app.config["CB_SETTINGS"].env == "production"
    hook = webhooks.register(
        db.session, current_principal(), body["url"], body["event_types"], production
    )
    db.session.commit()
    return {**webhooks.shown(hook), "secret": hook.secret}


@blp.get("/webhooks")
@blp.response(200, s.WebhookListSchema)
@blp.doc(security=BEARER)
def list_webhooks() -> dict[str, Any]:
    """The webhooks of the caller's unit and beneath (secrets are never shown again)."""
    return {
        "items": [webhooks.shown(h) for h in webhooks.of_subtree(db.session, current_principal())]
    }


@blp.delete("/webhooks/<int:hook_id>")
@blp.response(204)
@blp.doc(security=BEARER)
def delete_webhook(hook_id: int) -> None:
    """Stop sending to a webhook (its delivery log stays)."""
    webhooks.stop(db.session, current_principal(), hook_id)
    db.session.commit()
