"""Front ends' webhooks: registered by a unit's admin or technical staff for events of its
subtree, signed with a secret shown once, stopped (their delivery log stays)."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.notify.models import Webhook
from shared.auth import Principal
from shared.db import utcnow
from shared.errors import FieldError, Forbidden, NotFound, ValidationProblem

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _may_manage(principal: Principal) -> None:
    if not principal.has_any("admin", "technical"):
        raise Forbidden("webhooks are managed by a unit's admin or technical staff")


def register(
    session: Session, principal: Principal, url: str, event_types: list[str], production: bool
) -> Webhook:
    """A new webhook of the caller's unit; HTTPS, or http:// to loopback outside production."""
    _may_manage(principal)
    local = not production and (urlsplit(url).hostname or "") in LOOPBACK
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
        event_types=sorted(set(event_types)),
        secret=secrets.token_hex(32),
        created_by_id=principal.staff_id,
    )
    session.add(hook)
    return hook


def shown(hook: Webhook) -> dict[str, Any]:
    """A webhook as listed: never its secret."""
    return {
        "id": hook.id,
        "url": hook.url,
        "event_types": hook.event_types,
        "unit_code": hook.unit_code,
        "created_at": hook.created_at,
    }


def of_subtree(session: Session, principal: Principal) -> list[Webhook]:
    return list(
        session.scalars(
            select(Webhook)
            .where(Webhook.deleted_at.is_(None), Webhook.unit_path.startswith(principal.unit_path))
            .order_by(Webhook.id)
        )
    )


def stop(session: Session, principal: Principal, hook_id: int) -> None:
    _may_manage(principal)
    hook = session.scalar(
        select(Webhook).where(
            Webhook.id == hook_id,
            Webhook.deleted_at.is_(None),
            Webhook.unit_path.startswith(principal.unit_path),
        )
    )
    if hook is None:
        raise NotFound(f"webhook {hook_id} not found")
    hook.deleted_at = utcnow()
