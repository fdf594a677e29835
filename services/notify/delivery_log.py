"""The deliveries as staff see them: the log of their unit's subtree, its dead letters (and,
for the provincial centre, the events their contract refused), and redriving one."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from services.notify import delivery
from services.notify.models import Delivery, DeliveryStatus, RefusedEvent
from shared.auth import Principal
from shared.errors import Forbidden, InvalidState, NotFound

SHOWN = 500  # dead letters and refused events shown at most, newest first


def in_scope(principal: Principal) -> Any:
    return Delivery.unit_path.startswith(principal.unit_path)


def log_query(principal: Principal, **filters: str | None) -> Select[Any]:
    """The delivery log of the caller's unit and every unit beneath it, newest first,
    filtered by ``event_type``, ``channel`` or ``status``."""
    query = select(Delivery).where(in_scope(principal))
    for name, value in filters.items():
        if value:
            query = query.where(getattr(Delivery, name) == value)
    return query.order_by(Delivery.created_at.desc())


def dead_letters(session: Session, principal: Principal) -> dict[str, Any]:
    dead = session.scalars(
        select(Delivery)
        .where(in_scope(principal), Delivery.status == DeliveryStatus.DEAD)
        .order_by(Delivery.created_at.desc())
        .limit(SHOWN)
    ).all()
    refused: list[RefusedEvent] = []
    if principal.unit_level == "province":
        refused = list(
            session.scalars(select(RefusedEvent).order_by(RefusedEvent.id.desc()).limit(SHOWN))
        )
    return {"deliveries": dead, "refused_events": refused}


def redrive(session: Session, principal: Principal, delivery_id: uuid.UUID) -> Delivery:
    """A dead delivery of the caller's scope, tried again from its first attempt (admins)."""
    if not principal.has_any("admin"):
        raise Forbidden("redriving a delivery needs the admin role")
    found = session.scalar(
        select(Delivery).where(Delivery.id == delivery_id, in_scope(principal)).with_for_update()
    )
    if found is None:
        raise NotFound(f"delivery {delivery_id} not found")
    if found.status != DeliveryStatus.DEAD:
        raise InvalidState(
            f"delivery {delivery_id} is {found.status.value}; only a dead one is redriven",
            current_state=found.status.value,
        )
    delivery.redrive(found)
    return found
