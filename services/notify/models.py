"""The notify service's tables: every event received (once), every delivery planned from it
(once per event, recipient and channel), the staff inbox, and events refused by contract."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import created_now, naming_metadata, value_enum
from shared.outbox import OutboxMixin
from shared.poison import PoisonMessageMixin


class Base(DeclarativeBase):
    metadata = naming_metadata()


class Channel(enum.StrEnum):
    INBOX = "inbox"
    SMS = "sms"
    EMAIL = "email"
    WEBHOOK = "webhook"


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"  # to be sent at next_attempt_at
    SENT = "sent"
    DEAD = "dead"  # permanent failure, or out of attempts: waits for a redrive


class Event(Base):
    """An event as received; its id is the sender's message id, so a redelivery adds nothing."""

    __tablename__ = "events"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    event_type: Mapped[str] = mapped_column(String(60))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    unit_code: Mapped[str] = mapped_column(String(32))
    unit_path: Mapped[str | None] = mapped_column(String(120, collation="C"))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    received_at: Mapped[datetime] = created_now()


class Delivery(Base):
    """One message to one recipient on one channel; sent once in effect."""

    __tablename__ = "deliveries"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("events.id"))
    event_type: Mapped[str] = mapped_column(String(60))
    channel: Mapped[Channel] = mapped_column(value_enum(Channel, "channel"))
    # Who, without personal data: "staff:42", "unit:S001:reviewer", "learner".
    recipient: Mapped[str] = mapped_column(String(80))
    # The address, only where the channel needs one, still sealed for notify (never in clear).
    sealed_address: Mapped[str | None] = mapped_column(Text)
    # Secrets the message carries (an activation code), still sealed: the body holds a
    # placeholder, filled in only at the moment of sending, so no secret is at rest in clear.
    sealed_values: Mapped[dict[str, str] | None] = mapped_column(JSONB)
    unit_code: Mapped[str] = mapped_column(String(32))
    unit_path: Mapped[str | None] = mapped_column(String(120, collation="C"))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)  # rendered with masked personal data only
    status: Mapped[DeliveryStatus] = mapped_column(value_enum(DeliveryStatus, "delivery_status"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = created_now()
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_now()
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("event_id", "recipient", "channel", name="uq_delivery"),
        Index(
            "ix_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_deliveries_unit_path_created", "unit_path", "created_at"),
    )


class InboxItem(Base):
    """A message in the staff inbox: for one member of staff, or for a role at a unit."""

    __tablename__ = "inbox_items"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deliveries.id"), unique=True)
    staff_id: Mapped[int | None] = mapped_column(Integer)
    unit_code: Mapped[str | None] = mapped_column(String(32))
    role: Mapped[str | None] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = created_now()

    __table_args__ = (
        Index("ix_inbox_items_staff", "staff_id", "created_at"),
        Index("ix_inbox_items_unit_role", "unit_code", "role", "created_at"),
    )


class InboxRead(Base):
    __tablename__ = "inbox_reads"

    item_id: Mapped[int] = mapped_column(ForeignKey("inbox_items.id"), primary_key=True)
    staff_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    read_at: Mapped[datetime] = created_now()


class RefusedEvent(Base):
    """A message the ``notify.deliver`` contract refused: kept (without personal data) for
    people to look at, never retried by itself, never blocking the queue."""

    __tablename__ = "refused_events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    message_id: Mapped[str | None] = mapped_column(String(64))
    event_type: Mapped[str | None] = mapped_column(String(60))
    errors: Mapped[dict[str, Any]] = mapped_column(JSONB)
    received_at: Mapped[datetime] = created_now()


class Webhook(Base):
    """A front end's endpoint: events of the registering unit's subtree, of the chosen types,
    are POSTed to it, signed with its secret (HMAC-SHA256, see ``channels/webhook.py``)."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    unit_code: Mapped[str] = mapped_column(String(32))
    unit_path: Mapped[str] = mapped_column(String(120, collation="C"))
    url: Mapped[str] = mapped_column(String(500))
    event_types: Mapped[list[str]] = mapped_column(ARRAY(String(60)))
    secret: Mapped[str] = mapped_column(String(64))  # shown once, at registration
    created_by_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = created_now()
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Outbox(OutboxMixin, Base):
    pass


class PoisonMessage(PoisonMessageMixin, Base):
    """A message this service's workers could not act on (shared/poison.py)."""
