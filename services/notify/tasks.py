"""Notify's tasks on the ``notify`` queue: thin adapters around ``delivery``."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from services.notify import delivery
from services.notify.context import worker_context, worker_db
from services.notify.models import RefusedEvent
from shared import contracts, messages

log = logging.getLogger(__name__)


@shared_task(name="notify.deliver")
def deliver(**payload: Any) -> str:
    """Record an event and plan its deliveries (one transaction), then try them
    (``delivery.attempt_many``); a refused event is kept aside."""
    try:
        event = messages.load("notify.deliver", payload)
    except contracts.ContractError as exc:
        _refuse(payload, exc)
        return "refused"
    with worker_db().transaction() as session:
        to_send = delivery.accept(session, event)
    if to_send:  # the plan is committed first: whatever happens next, dispatch finds it
        delivery.attempt_many(worker_db(), worker_context(), to_send)
    return f"{len(to_send)} to send"


DISPATCH_BUDGET = 12.0  # seconds: beat sends notify.dispatch every 15


@shared_task(name="notify.dispatch")
def dispatch() -> int:
    """Send the deliveries that are due (retries, redrives, rate-limited ones), and keep at it
    as more fall due, for most of beat's interval."""
    return delivery.drain(worker_db(), worker_context(), DISPATCH_BUDGET)


def _refuse(payload: dict[str, Any], exc: contracts.ContractError) -> None:
    """Keep the refusal without personal data: which message, which type, which fields and
    why; never the values (they may be what is wrong, and personal)."""
    message_id = payload.get("message_id")
    event_type = payload.get("event_type")
    with worker_db().transaction() as session:
        session.add(
            RefusedEvent(
                message_id=str(message_id)[:64] if message_id else None,
                event_type=str(event_type)[:60] if isinstance(event_type, str) else None,
                errors=_reasons(exc.messages),
            )
        )
    log.warning("event refused by its contract", extra={"event_type": str(event_type)[:60]})


def _reasons(messages: Any) -> dict[str, Any]:
    if isinstance(messages, dict):
        return {str(k): _reasons(v) if isinstance(v, dict) else v for k, v in messages.items()}
    return {"_schema": messages}
