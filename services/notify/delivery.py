"""Deliveries: planned once per (event, recipient, channel), sent once in effect.

An event is recorded under its message id, so a redelivered event plans nothing new. Inbox
deliveries are made at once (the inbox row is the delivery). SMS deliveries are attempted
right away and, after a transient failure, again at ``next_attempt_at`` (exponential backoff
with jitter, held in the database and picked up by ``notify.dispatch``, never a Celery
countdown) until ``notify_max_attempts``; a permanent failure, or the last attempt, makes the
delivery dead until someone redrives it.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from datetime import timedelta

from sqlalchemy import any_, func, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from services.notify import plans, rendering
from services.notify.channels import webhook
from services.notify.channels.failures import PermanentError, TransientError
from services.notify.context import NotifyContext
from services.notify.models import Channel, Delivery, DeliveryStatus, Event, InboxItem, Webhook
from shared import messages, sealing
from shared.db import Database, utcnow

log = logging.getLogger(__name__)


def accept(session: Session, event: messages.NotifyEvent) -> list[uuid.UUID]:
    """Record the event and plan its deliveries; the ids of those still to be sent (none for
    an event already received)."""
    inserted = session.execute(
        pg_insert(Event)
        .values(
            id=event["message_id"],
            event_type=event["event_type"],
            occurred_at=event["occurred_at"],
            unit_code=event["unit_code"],
            unit_path=event.get("unit_path"),
            data=event["data"],
        )
        .on_conflict_do_nothing()
        .returning(Event.id)
    ).first()
    if inserted is None:
        return []
    planned = [(p, _delivery(event, p)) for p in plans.plan(event) + _webhooks(session, event)]
    session.add_all([d for _, d in planned])
    session.flush()  # the inbox rows refer to their deliveries
    to_send = []
    for p, delivery in planned:
        if delivery.status != DeliveryStatus.PENDING:
            continue
        if p.channel != Channel.INBOX:
            to_send.append(delivery.id)
            continue
        session.add(
            InboxItem(
                delivery_id=delivery.id,
                staff_id=p.staff_id,
                unit_code=p.unit_code,
                role=p.role,
                subject=delivery.subject,
                body=delivery.body,
            )
        )
        delivery.status, delivery.sent_at, delivery.attempts = DeliveryStatus.SENT, utcnow(), 1
    return to_send


def _webhooks(session: Session, event: messages.NotifyEvent) -> list[plans.Planned]:
    """The front ends' webhooks that asked for this event type, of units at or above the
    event's unit."""
    if not event.get("unit_path"):
        return []
    hooks = session.scalars(
        select(Webhook.id).where(
            Webhook.deleted_at.is_(None),
            literal(event["event_type"]) == any_(Webhook.event_types),
            literal(event["unit_path"]).startswith(Webhook.unit_path),
        )
    )
    return [plans.Planned(Channel.WEBHOOK, f"webhook:{hook_id}") for hook_id in hooks]


def _delivery(event: messages.NotifyEvent, planned: plans.Planned) -> Delivery:
    delivery = Delivery(
        id=uuid.uuid4(),
        event_id=event["message_id"],
        event_type=event["event_type"],
        channel=planned.channel,
        recipient=planned.recipient,
        sealed_address=planned.sealed_address,
        unit_code=event["unit_code"],
        unit_path=event.get("unit_path"),
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=utcnow(),
    )
    if planned.channel == Channel.WEBHOOK:  # the event itself, as JSON: no template
        delivery.subject = event["event_type"]
        delivery.body = webhook.body_of(
            str(event["message_id"]),
            event["event_type"],
            event["occurred_at"].isoformat(),
            event["unit_code"],
            event["data"],
        ).decode()
        return delivery
    secrets = {k: v for k, v in event["sealed"].items() if k not in plans.ADDRESSES}
    if planned.channel in (Channel.SMS, Channel.EMAIL) and secrets:
        delivery.sealed_values = secrets  # the inbox never carries a secret
    try:
        delivery.subject, delivery.body = rendering.render(
            event["event_type"],
            planned.channel.value,
            event["data"],
            tuple(delivery.sealed_values or ()),
        )
    except rendering.RenderError as exc:
        delivery.subject, delivery.body = event["event_type"], ""
        delivery.status, delivery.last_error = DeliveryStatus.DEAD, str(exc)[:500]
        log.error("template failed", extra={"event_type": event["event_type"], "error": str(exc)})
    return delivery


def attempt(session: Session, ctx: NotifyContext, delivery_id: uuid.UUID) -> str:
    """Try one due delivery (skipped if another worker holds it, or it is not due)."""
    delivery = session.scalar(
        select(Delivery)
        .where(
            Delivery.id == delivery_id,
            Delivery.status == DeliveryStatus.PENDING,
            Delivery.next_attempt_at <= utcnow(),
        )
        .with_for_update(skip_locked=True)
    )
    if delivery is None:
        return "not due"
    wait = ctx.limiter.wait_for(delivery.channel.value)
    if wait:  # over the channel's rate: the next window, no attempt spent
        delivery.next_attempt_at = utcnow() + timedelta(seconds=wait)
        return "limited"
    delivery.attempts += 1
    try:
        _send(session, ctx, delivery)
    except TransientError as exc:
        return _failed(delivery, ctx, str(exc), transient=True)
    except (PermanentError, ValueError) as exc:
        return _failed(delivery, ctx, str(exc) or type(exc).__name__, transient=False)
    delivery.status, delivery.sent_at, delivery.last_error = DeliveryStatus.SENT, utcnow(), None
    return "sent"


def _send(session: Session, ctx: NotifyContext, delivery: Delivery) -> None:
    if delivery.channel in (Channel.SMS, Channel.EMAIL):
        address = sealing.unseal(ctx.sealing_private_pem, delivery.sealed_address or "")
        opened = {
            name: sealing.unseal(ctx.sealing_private_pem, token)
            for name, token in (delivery.sealed_values or {}).items()
        }
        body = rendering.fill(delivery.body, opened)
        if delivery.channel == Channel.SMS:
            ctx.sms.send(address, body, str(delivery.id))
        else:
            ctx.mail.send(address, delivery.subject, body, str(delivery.id))
        return
    if delivery.channel == Channel.WEBHOOK:
        hook = session.get(Webhook, int(delivery.recipient.removeprefix("webhook:")))
        if hook is None or hook.deleted_at is not None:
            raise PermanentError("the webhook was deleted")
        timeout = ctx.settings.webhook_timeout
        webhook.post(hook.url, hook.secret, delivery.body.encode(), str(delivery.id), timeout)
        return
    raise PermanentError(f"nothing sends on {delivery.channel.value}")


def _failed(delivery: Delivery, ctx: NotifyContext, error: str, transient: bool) -> str:
    delivery.last_error = error[:500]
    settings = ctx.settings
    if not transient or delivery.attempts >= settings.notify_max_attempts:
        delivery.status = DeliveryStatus.DEAD
        log.warning("delivery dead", extra={"delivery_id": str(delivery.id), "error": error})
        return "dead"
    delivery.next_attempt_at = utcnow() + backoff(
        delivery.attempts, settings.notify_retry_base_seconds, settings.notify_retry_max_seconds
    )
    return "retry"


def backoff(attempts: int, base: float, ceiling: float) -> timedelta:
    """Exponential with full jitter: a random wait up to base * 2^(attempts-1), capped."""
    return timedelta(seconds=random.uniform(0, min(ceiling, base * 2 ** (attempts - 1))))  # noqa: S311


def next_due(session: Session) -> float | None:
    """Seconds until the earliest pending delivery is due (0 if one is), None if none is."""
    earliest = session.scalar(
        select(func.min(Delivery.next_attempt_at)).where(Delivery.status == DeliveryStatus.PENDING)
    )
    return None if earliest is None else max(0.0, (earliest - utcnow()).total_seconds())


def drain(db: Database, ctx: NotifyContext, budget: float) -> int:
    """Send what is due, and what falls due (a rate-limited delivery's next window, a short
    backoff) within ``budget`` seconds; return how many were attempted."""
    deadline, attempted = time.monotonic() + budget, 0
    while True:
        with db.transaction() as session:
            ids = due(session)
            wait = None if ids else next_due(session)
        for delivery_id in ids:
            with db.transaction() as session:
                attempt(session, ctx, delivery_id)
        attempted += len(ids)
        left = deadline - time.monotonic()
        if ids and left > 0:
            continue
        if wait is None or wait > left:
            return attempted
        time.sleep(max(0.05, wait))


def due(session: Session, limit: int = 200) -> list[uuid.UUID]:
    return list(
        session.scalars(
            select(Delivery.id)
            .where(Delivery.status == DeliveryStatus.PENDING, Delivery.next_attempt_at <= utcnow())
            .order_by(Delivery.next_attempt_at)
            .limit(limit)
        )
    )


def redrive(delivery: Delivery) -> None:
    """A dead delivery, tried again from the first attempt."""
    delivery.status, delivery.attempts, delivery.next_attempt_at = (
        DeliveryStatus.PENDING,
        0,
        utcnow(),
    )
