"""The notify HTTP API: the staff inbox, the delivery log and the dead letters."""

from __future__ import annotations

import secrets
import uuid
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from flask_smorest import Blueprint
from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.notify import delivery as delivery_rules
from services.notify import schemas as s
from services.notify.context import db
from services.notify.models import (
    Delivery,
    DeliveryStatus,
    InboxItem,
    InboxRead,
    RefusedEvent,
    Webhook,
)
from shared.auth import Principal, current_principal
from shared.db import utcnow
from shared.errors import FieldError, Forbidden, InvalidState, NotFound, ValidationProblem
from shared.paging import paginate

blp = Blueprint(
    "notify", __name__, description="Staff inbox, webhooks, delivery log and dead letters"
)
BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _addressed_to(principal: Principal) -> Any:
    """Inbox items for the caller: by name, or for one of their roles at their unit."""
    return or_(
        InboxItem.staff_id == principal.staff_id,
        and_(InboxItem.unit_code == principal.unit_code, InboxItem.role.in_(principal.roles)),
    )


def _read_by(principal: Principal) -> Any:
    return exists().where(
        InboxRead.item_id == InboxItem.id, InboxRead.staff_id == principal.staff_id
    )


@blp.get("/inbox")
@blp.arguments(s.InboxArgs, location="query")
@blp.response(200, s.InboxSchema)
@blp.doc(security=BEARER)
def inbox(args: dict[str, Any]) -> dict[str, Any]:
    """The caller's messages, newest first, with the number unread."""
    principal = current_principal()
    read = _read_by(principal)
    query = select(InboxItem, read.label("read")).where(_addressed_to(principal))
    unread = db.session.scalar(
        select(func.count()).select_from(InboxItem).where(_addressed_to(principal), ~read)
    )
    if args.get("unread"):
        query = query.where(~read)
    page = paginate(
        db.session, query.order_by(InboxItem.id.desc()), args["page"], args["per_page"], rows=True
    )
    page["items"] = [{**_item(row["InboxItem"]), "read": row["read"]} for row in page["items"]]
    return {**page, "unread": unread}


def _item(item: InboxItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "subject": item.subject,
        "body": item.body,
        "created_at": item.created_at,
        "role": item.role,
    }


@blp.post("/inbox/<bigint:item_id>/read")
@blp.response(204)
@blp.doc(security=BEARER)
def mark_read(item_id: int) -> None:
    """Mark one of the caller's messages read (again is harmless)."""
    principal = current_principal()
    found = db.session.scalar(
        select(InboxItem.id).where(InboxItem.id == item_id, _addressed_to(principal))
    )
    if found is None:
        raise NotFound(f"inbox item {item_id} not found")
    db.session.execute(
        pg_insert(InboxRead)
        .values(item_id=item_id, staff_id=principal.staff_id)
        .on_conflict_do_nothing()
    )
    db.session.commit()


def _in_scope(principal: Principal) -> Any:
    return Delivery.unit_path.startswith(principal.unit_path)


@blp.get("/deliveries")
@blp.arguments(s.DeliveryArgs, location="query")
@blp.response(200, s.DeliveryPageSchema)
@blp.doc(security=BEARER)
def deliveries(args: dict[str, Any]) -> dict[str, Any]:
    """The delivery log of the caller's unit and every unit beneath it, newest first."""
    principal = current_principal()
    query = select(Delivery).where(_in_scope(principal))
    for name in ("event_type", "channel", "status"):
        if args.get(name):
            query = query.where(getattr(Delivery, name) == args[name])
    return paginate(
        db.session, query.order_by(Delivery.created_at.desc()), args["page"], args["per_page"]
    )


@blp.get("/dead-letters")
@blp.response(200, s.DeadLettersSchema)
@blp.doc(security=BEARER)
def dead_letters() -> dict[str, Any]:
    """Deliveries that could not be made (in the caller's scope), and, for the provincial
    centre, events their contract refused."""
    principal = current_principal()
    dead = db.session.scalars(
        select(Delivery)
        .where(_in_scope(principal), Delivery.status == DeliveryStatus.DEAD)
        .order_by(Delivery.created_at.desc())
        .limit(500)
    ).all()
    refused: list[RefusedEvent] = []
    if principal.unit_level == "province":
        refused = list(
            db.session.scalars(select(RefusedEvent).order_by(RefusedEvent.id.desc()).limit(500))
        )
    return {"deliveries": dead, "refused_events": refused}


@blp.post("/dead-letters/<uuid:delivery_id>/redrive")
@blp.response(200, s.DeliverySchema)
@blp.alt_response(409, description="the delivery is not dead")
@blp.doc(security=BEARER)
def redrive(delivery_id: uuid.UUID) -> Delivery:
    """Try a dead delivery again from its first attempt (administrators)."""
    principal = current_principal()
    if not principal.has_any("admin"):
        raise Forbidden("redriving a delivery needs the admin role")
    found = db.session.scalar(
        select(Delivery).where(Delivery.id == delivery_id, _in_scope(principal)).with_for_update()
    )
    if found is None:
        raise NotFound(f"delivery {delivery_id} not found")
    if found.status != DeliveryStatus.DEAD:
        raise InvalidState(
            f"delivery {delivery_id} is {found.status.value}; only a dead one is redriven",
            current_state=found.status.value,
        )
    delivery_rules.redrive(found)
    db.session.commit()
    return found


def _may_manage_webhooks(principal: Principal) -> None:
    if not principal.has_any("admin", "technical"):
        raise Forbidden("webhooks are managed by a unit's admin or technical staff")


@blp.post("/webhooks")
@blp.arguments(s.WebhookInSchema)
@blp.response(201, s.WebhookSchema)
@blp.doc(security=BEARER)
def register_webhook(body: dict[str, Any]) -> dict[str, Any]:
    """Register a front end's endpoint for events of the caller's unit and beneath; the
    signing secret is in this answer only."""
    principal = current_principal()
    _may_manage_webhooks(principal)
    url = body["url"]
    host = urlsplit(url).hostname or ""
    local = current_app.config["CB_SETTINGS"].env != "production" and host in LOOPBACK
    if not url.startswith("https://") and not local:
        raise ValidationProblem(
            "a webhook must use HTTPS",
            [
                FieldError(
                    "url", "must start with https:// (http:// only to loopback in development)"
                )
            ],
        )
    hook = Webhook(
        unit_code=principal.unit_code,
        unit_path=principal.unit_path,
        url=url,
        event_types=sorted(set(body["event_types"])),
        secret=secrets.token_hex(32),
        created_by_id=principal.staff_id,
    )
    db.session.add(hook)
    db.session.commit()
    return {**_hook(hook), "secret": hook.secret}


def _hook(hook: Webhook) -> dict[str, Any]:
    return {
        "id": hook.id,
        "url": hook.url,
        "event_types": hook.event_types,
        "unit_code": hook.unit_code,
        "created_at": hook.created_at,
    }


@blp.get("/webhooks")
@blp.response(200, s.WebhookListSchema)
@blp.doc(security=BEARER)
def list_webhooks() -> dict[str, Any]:
    """The webhooks of the caller's unit and beneath (secrets are never shown again)."""
    principal = current_principal()
    hooks = db.session.scalars(
        select(Webhook)
        .where(Webhook.deleted_at.is_(None), Webhook.unit_path.startswith(principal.unit_path))
        .order_by(Webhook.id)
    )
    return {"items": [_hook(h) for h in hooks]}


@blp.delete("/webhooks/<int:hook_id>")
@blp.response(204)
@blp.doc(security=BEARER)
def delete_webhook(hook_id: int) -> None:
    """Stop sending to a webhook (its delivery log stays)."""
    principal = current_principal()
    _may_manage_webhooks(principal)
    hook = db.session.scalar(
        select(Webhook).where(
            Webhook.id == hook_id,
            Webhook.deleted_at.is_(None),
            Webhook.unit_path.startswith(principal.unit_path),
        )
    )
    if hook is None:
        raise NotFound(f"webhook {hook_id} not found")
    hook.deleted_at = utcnow()
    db.session.commit()
