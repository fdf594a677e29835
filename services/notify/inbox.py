"""The staff inbox as each member of staff reads it: what is addressed to them (by name, or
to one of their roles at their unit), what they have read."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from services.notify.models import InboxItem, InboxRead
from shared.auth import Principal
from shared.errors import NotFound
from shared.paging import paginate


def addressed_to(principal: Principal) -> Any:
    """Inbox items for the caller: by name, or for one of their roles at their unit."""
    return or_(
        InboxItem.staff_id == principal.staff_id,
        and_(InboxItem.unit_code == principal.unit_code, InboxItem.role.in_(principal.roles)),
    )


def _read_by(principal: Principal) -> Any:
    return exists().where(
        InboxRead.item_id == InboxItem.id, InboxRead.staff_id == principal.staff_id
    )


def page(
    session: Session, principal: Principal, unread_only: bool, number: int, per_page: int
) -> dict[str, Any]:
    """One page of the caller's messages, newest first, each marked read or not, with the
    number unread."""
    read = _read_by(principal)
    query = select(InboxItem, read.label("read")).where(addressed_to(principal))
    unread = session.scalar(
        select(func.count()).select_from(InboxItem).where(addressed_to(principal), ~read)
    )
    if unread_only:
        query = query.where(~read)
    found = paginate(session, query.order_by(InboxItem.id.desc()), number, per_page, rows=True)
    found["items"] = [{**_item(row["InboxItem"]), "read": row["read"]} for row in found["items"]]
    return {**found, "unread": unread}


def _item(item: InboxItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "subject": item.subject,
        "body": item.body,
        "created_at": item.created_at,
        "role": item.role,
    }


def mark_read(session: Session, principal: Principal, item_id: int) -> None:
    """One of the caller's messages read (again is harmless); 404 for anyone else's."""
    found = session.scalar(
        select(InboxItem.id).where(InboxItem.id == item_id, addressed_to(principal))
    )
    if found is None:
        raise NotFound(f"inbox item {item_id} not found")
    session.execute(
        pg_insert(InboxRead)
        .values(item_id=item_id, staff_id=principal.staff_id)
        .on_conflict_do_nothing()
    )
