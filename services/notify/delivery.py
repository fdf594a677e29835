"""Deliveries: planned once per (event, recipient, channel), sent once in effect.

An event is recorded under its message id, so a redelivered event plans nothing new. The event,
its deliveries and its inbox rows are one transaction of plain inserts (nothing is read back,
so no unit of work is needed). Inbox deliveries are made at once (the inbox row is the
delivery). The others are sent in batches, an event's at once or ``drain``'s due ones: one
committed statement claims those of the batch still due (an attempt counted, a lease taken;
one another worker holds is skipped), one Redis round trip counts them against the channels'
rate limits, each goes out over its channel's kept connection, and one statement records
every outcome (see ``attempt_many`` for what a kill or an outage in between does).
After a transient failure a delivery is tried again at ``next_attempt_at`` (exponential
backoff with jitter, held in the database and picked up by ``notify.dispatch``, never a
Celery countdown) until ``notify_max_attempts``; a permanent failure, or the last attempt,
makes the delivery dead until someone redrives it.
"""

from __future__ import annotations

import logging
import random
import time
import typing
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy import (
    String,
    Table,
    and_,
    any_,
    bindparam,
    cast,
    func,
    literal,
    null,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from services.notify import plans, rendering
from services.notify.channels import webhook
from services.notify.channels.failures import PermanentError, TransientError
from services.notify.context import NotifyContext
from services.notify.models import Channel, Delivery, DeliveryStatus, Event, InboxItem, Webhook
from shared import messages, sealing
from shared.db import Database, utcnow

log = logging.getLogger(__name__)

# Their tables: plain inserts and updates, without the ORM's unit of work.
EVENTS = typing.cast(Table, Event.__table__)
DELIVERIES = typing.cast(Table, Delivery.__table__)
INBOX = typing.cast(Table, InboxItem.__table__)
WEBHOOKS = typing.cast(Table, Webhook.__table__)
SEND_BATCH = 20  # due deliveries sent per transaction by ``drain``

# The statements of every event, built once (building one costs more than running it).
_RECORD_EVENT = pg_insert(EVENTS).on_conflict_do_nothing().returning(EVENTS.c.id)
_ASKING_WEBHOOKS = (
    select(WEBHOOKS.c.id)
    .where(
        WEBHOOKS.c.deleted_at.is_(None),
        bindparam("event_type", type_=String) == any_(WEBHOOKS.c.event_types),
        bindparam("unit_path", type_=String).startswith(WEBHOOKS.c.unit_path),
    )
    .order_by(WEBHOOKS.c.id)
)


def accept(session: Session, event: messages.NotifyEvent) -> list[uuid.UUID]:
    """Record the event and plan its deliveries; the ids of those still to be sent, in plan
    order (none for an event already received)."""
    inserted = session.execute(
        _RECORD_EVENT,
        {
            "id": event["message_id"],
            "event_type": event["event_type"],
            "occurred_at": event["occurred_at"],
            "unit_code": event["unit_code"],
            "unit_path": event.get("unit_path"),
            "data": event["data"],
        },
    ).first()
    if inserted is None:
        return []
    now = utcnow()
    planned = [(p, _delivery(event, p, now)) for p in plans.plan(event) + _webhooks(session, event)]
    if not planned:
        return []
    inbox = [_into_inbox(p, row, now) for p, row in planned if _is_inbox(p, row)]
    session.execute(DELIVERIES.insert(), [row for _, row in planned])
    if inbox:
        session.execute(INBOX.insert(), inbox)
    return [
        row["id"]
        for p, row in planned
        if p.channel != Channel.INBOX and row["status"] == DeliveryStatus.PENDING
    ]


def _is_inbox(planned: plans.Planned, row: dict[str, Any]) -> bool:
    return planned.channel == Channel.INBOX and row["status"] == DeliveryStatus.PENDING


def _into_inbox(planned: plans.Planned, row: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The inbox row of an inbox delivery, which is made (sent) by writing it."""
    row.update(status=DeliveryStatus.SENT, sent_at=now, attempts=1)
    return {
        "delivery_id": row["id"],
        "staff_id": planned.staff_id,
        "unit_code": planned.unit_code,
        "role": planned.role,
        "subject": row["subject"],
        "body": row["body"],
    }


def _webhooks(session: Session, event: messages.NotifyEvent) -> list[plans.Planned]:
    """The front ends' webhooks that asked for this event type, of units at or above the
    event's unit."""
    if not event.get("unit_path"):
        return []
    hooks = session.scalars(
        _ASKING_WEBHOOKS, {"event_type": event["event_type"], "unit_path": event["unit_path"]}
    )
    return [plans.Planned(Channel.WEBHOOK, f"webhook:{hook_id}") for hook_id in hooks]


def _delivery(event: messages.NotifyEvent, planned: plans.Planned, now: datetime) -> dict[str, Any]:
    """The delivery's row, rendered; dead at once if its template fails."""
    row: dict[str, Any] = {
        "id": uuid.uuid4(),
        "event_id": event["message_id"],
        "event_type": event["event_type"],
        "channel": planned.channel,
        "recipient": planned.recipient,
        "sealed_address": planned.sealed_address,
        "sealed_values": null(),  # SQL NULL, not JSON null: no secret to carry
        "unit_code": event["unit_code"],
        "unit_path": event.get("unit_path"),
        "status": DeliveryStatus.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "last_error": None,
        "sent_at": None,
    }
    if planned.channel == Channel.WEBHOOK:  # the event itself, as JSON: no template
        row["subject"] = event["event_type"]
        row["body"] = webhook.body_of(
            str(event["message_id"]),
            event["event_type"],
            event["occurred_at"].isoformat(),
            event["unit_code"],
            event["data"],
        ).decode()
        return row
    secrets = {}  # the inbox never carries a secret
    if planned.channel in (Channel.SMS, Channel.EMAIL):
        secrets = {k: v for k, v in event["sealed"].items() if k not in plans.ADDRESSES}
    if secrets:
        row["sealed_values"] = secrets
    try:
        row["subject"], row["body"] = rendering.render(
            event["event_type"], planned.channel.value, event["data"], tuple(secrets)
        )
    except rendering.RenderError as exc:
        row["subject"], row["body"] = event["event_type"], ""
        row["status"], row["last_error"] = DeliveryStatus.DEAD, str(exc)[:500]
        log.error("template failed", extra={"event_type": event["event_type"], "error": str(exc)})
    return row


# --- sending -------------------------------------------------------------------------------


@dataclass
class _Due:
    """A delivery locked for sending, with what its attempt changes."""

    id: uuid.UUID
    channel: Channel
    recipient: str
    sealed_address: str | None
    sealed_values: dict[str, str] | None
    subject: str
    body: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    sent_at: datetime | None
    hook_url: str | None
    hook_secret: str | None
    hook_deleted_at: datetime | None


_DUE_COLUMNS = [name for name in _Due.__dataclass_fields__ if not name.startswith("hook_")]
# The claim: the due ones of the batch not held by another worker get an attempt and a lease
# (not due again until it ends), committed before anything is sent; their webhook with them.
_CLAIMED = (
    update(DELIVERIES)
    .where(
        DELIVERIES.c.id.in_(
            select(DELIVERIES.c.id)
            .where(
                DELIVERIES.c.id.in_(bindparam("ids", expanding=True)),
                DELIVERIES.c.status == DeliveryStatus.PENDING,
                DELIVERIES.c.next_attempt_at
                <= bindparam("now", type_=DELIVERIES.c.next_attempt_at.type),
            )
            .with_for_update(skip_locked=True)
        )
    )
    .values(
        attempts=DELIVERIES.c.attempts + 1,
        next_attempt_at=bindparam("lease_until", type_=DELIVERIES.c.next_attempt_at.type),
    )
    .returning(*(DELIVERIES.c[name] for name in _DUE_COLUMNS))
    .cte("claimed")
)
_CLAIM = select(
    *(_CLAIMED.c[name] for name in _DUE_COLUMNS),
    WEBHOOKS.c.url.label("hook_url"),
    WEBHOOKS.c.secret.label("hook_secret"),
    WEBHOOKS.c.deleted_at.label("hook_deleted_at"),
).select_from(
    _CLAIMED.outerjoin(
        WEBHOOKS,
        and_(
            _CLAIMED.c.channel == Channel.WEBHOOK,
            _CLAIMED.c.recipient == literal("webhook:") + cast(WEBHOOKS.c.id, String),
        ),
    )
)
_RECORD = (
    update(DELIVERIES)
    .where(DELIVERIES.c.id == bindparam("b_id"))
    .values(
        {
            DELIVERIES.c[name]: bindparam(f"b_{name}", type_=DELIVERIES.c[name].type)
            for name in ("status", "attempts", "next_attempt_at", "last_error", "sent_at")
        }
    )
)
RECORD_RETRY_SECONDS = 1.0  # between tries to record what was sent while PostgreSQL is away


def attempt(db: Database, ctx: NotifyContext, delivery_id: uuid.UUID) -> str:
    """Try one due delivery (skipped if another worker holds it, or it is not due)."""
    return attempt_many(db, ctx, [delivery_id])[delivery_id]


def attempt_many(
    db: Database, ctx: NotifyContext, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """Try the due ones of ``ids``, in that order; each one's outcome: ``sent``, ``retry``,
    ``dead``, ``limited`` (over its channel's rate: the next window, no attempt spent) or
    ``not due`` (not pending, not yet due, or claimed by another worker).

    Three steps, none holding a transaction open while a channel is spoken to: the claim
    (each due one's attempt counted and leased for ``task_time_limit``, committed), the
    sending, and one statement recording every outcome. A worker killed after a channel
    accepted a message and before the record commits leaves its delivery claimed: when the
    lease ends ``dispatch`` sends it again, under the same id (the e-mail's Message-ID, the
    SMS file's name, the webhook's delivery header) and with a second attempt counted, so a
    repeat is always one the record shows was possible. PostgreSQL going away after a send
    does not cause one: the record is tried again until the lease is nearly over."""
    order = {delivery_id: i for i, delivery_id in enumerate(ids)}
    lease = ctx.settings.task_time_limit
    claimed_at = utcnow()
    with db.transaction() as session:
        rows = session.execute(
            _CLAIM,
            {
                "ids": list(ids),
                "now": claimed_at,
                "lease_until": claimed_at + timedelta(seconds=lease),
            },
        )
        batch = sorted((_Due(**row) for row in rows.mappings()), key=lambda due: order[due.id])
    outcomes = dict.fromkeys(ids, "not due")
    if not batch:
        return outcomes
    record_until = time.monotonic() + lease - min(10.0, lease / 4)
    for due in batch:  # until tried, each is as it was before the claim
        due.attempts -= 1
        due.next_attempt_at = claimed_at
    try:
        waits = ctx.limiter.admit([due.channel.value for due in batch])
        for due, wait in zip(batch, waits, strict=True):
            try:
                outcomes[due.id] = _attempt(ctx, due, wait)
            except SoftTimeLimitExceeded:
                # The task is about to be killed: what was sent is recorded now, the rest
                # goes back as it was, for dispatch (the hard limit would lose all of it).
                outcomes[due.id] = _failed(due, ctx, "the task's time limit", transient=True)
                break
    finally:
        _record(db, batch, record_until)
    return outcomes


def _record(db: Database, batch: Sequence[_Due], until: float) -> None:
    """Every outcome of the batch in one statement; while PostgreSQL cannot be reached, tried
    again (what was sent must not be sent again for want of its record) until ``until``."""
    changes = [_changes(due) for due in batch]
    while True:
        try:
            with db.transaction() as session:
                session.execute(_RECORD, changes)
            return
        except OperationalError:
            if time.monotonic() + RECORD_RETRY_SECONDS >= until:
                raise
            log.warning(
                "recording deliveries waits for the database", extra={"count": len(changes)}
            )
            time.sleep(RECORD_RETRY_SECONDS)


def _changes(due: _Due) -> dict[str, Any]:
    return {
        "b_id": due.id,
        "b_status": due.status,
        "b_attempts": due.attempts,
        "b_next_attempt_at": due.next_attempt_at,
        "b_last_error": due.last_error,
        "b_sent_at": due.sent_at,
    }


def _attempt(ctx: NotifyContext, due: _Due, wait: float) -> str:
    if wait:
        due.next_attempt_at = utcnow() + timedelta(seconds=wait)
        return "limited"
    due.attempts += 1  # the attempt the claim counted
    try:
        _send(ctx, due)
    except TransientError as exc:
        return _failed(due, ctx, str(exc), transient=True)
    except (PermanentError, ValueError) as exc:
        return _failed(due, ctx, str(exc) or type(exc).__name__, transient=False)
    except SoftTimeLimitExceeded:
        raise
    except Exception as exc:  # a bug must not undo what the batch's others recorded
        # Its message may hold what it was given (an address): the type only.
        error = f"unexpected {type(exc).__name__}"
        log.error("delivery failed", extra={"delivery_id": str(due.id), "error": error})
        return _failed(due, ctx, error, transient=True)
    due.status, due.sent_at, due.last_error = DeliveryStatus.SENT, utcnow(), None
    return "sent"


def _send(ctx: NotifyContext, due: _Due) -> None:
    if due.channel in (Channel.SMS, Channel.EMAIL):
        address = sealing.unseal(ctx.sealing_private_pem, due.sealed_address or "")
        opened = {
            name: sealing.unseal(ctx.sealing_private_pem, token)
            for name, token in (due.sealed_values or {}).items()
        }
        body = rendering.fill(due.body, opened)
        if due.channel == Channel.SMS:
            ctx.sms.send(address, body, str(due.id))
        else:
            ctx.mail.send(address, due.subject, body, str(due.id))
        return
    if due.channel == Channel.WEBHOOK:
        if due.hook_url is None or due.hook_secret is None or due.hook_deleted_at is not None:
            raise PermanentError("the webhook was deleted")
        timeout = ctx.settings.webhook_timeout
        webhook.post(due.hook_url, due.hook_secret, due.body.encode(), str(due.id), timeout)
        return
    raise PermanentError(f"nothing sends on {due.channel.value}")


def _failed(due: _Due, ctx: NotifyContext, error: str, transient: bool) -> str:
    due.last_error = error[:500]
    settings = ctx.settings
    if not transient or due.attempts >= settings.notify_max_attempts:
        due.status = DeliveryStatus.DEAD
        log.warning("delivery dead", extra={"delivery_id": str(due.id), "error": error})
        return "dead"
    due.next_attempt_at = utcnow() + backoff(
        due.attempts, settings.notify_retry_base_seconds, settings.notify_retry_max_seconds
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
    backoff) within ``budget`` seconds, ``SEND_BATCH`` to a transaction; return how many were
    attempted."""
    deadline, attempted = time.monotonic() + budget, 0
    while True:
        with db.transaction() as session:
            ids = due(session)
            wait = None if ids else next_due(session)
        for start in range(0, len(ids), SEND_BATCH):
            attempt_many(db, ctx, ids[start : start + SEND_BATCH])
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
