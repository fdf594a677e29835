"""The notify HTTP API: the staff inbox, the delivery log and the dead letters."""

from __future__ import annotations

import uuid
from typing import Any

from flask_smorest import Blueprint
from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.notify import delivery as delivery_rules
from services.notify import schemas as s
from services.notify.extensions import db
from services.notify.models import Delivery, DeliveryStatus, InboxItem, InboxRead, RefusedEvent
from shared.auth import Principal, current_principal
from shared.errors import Forbidden, InvalidState, NotFound
from shared.paging import paginate

blp = Blueprint("notify", __name__, description="Staff inbox, delivery log and dead letters")
BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]


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


@blp.post("/inbox/<int:item_id>/read")
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
