"""The intake service's tables: learners, learning accounts, applications with their
versions and timeline, evidence, the ledger, idempotency keys, processed messages, outbox.

ID and phone numbers are stored only encrypted (``*_enc``) with a keyed hash beside them
(``*_hash``) for exact lookups; see ``shared.pii``.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.db import created_now, naming_metadata, value_enum
from shared.outbox import OutboxMixin


class Base(DeclarativeBase):
    metadata = naming_metadata()


class ApplicationKind(enum.StrEnum):
    ACCOUNT_OPENING = "account_opening"
    DEPOSIT = "deposit"
    # Taken in a later issue; the tables already hold them.
    CONVERSION = "conversion"
    CERTIFICATE = "certificate"


class ApplicationStatus(enum.StrEnum):
    IN_REVIEW = "in_review"
    RETURNED = "returned"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class AccountStatus(enum.StrEnum):
    PENDING = "pending"  # the opening application is in review
    OPEN = "open"
    CLOSED = "closed"  # the opening was rejected or withdrawn; a new one may be made


class Learner(Base):
    __tablename__ = "learners"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    document_type: Mapped[str] = mapped_column(String(40))
    document_enc: Mapped[bytes] = mapped_column(LargeBinary)
    document_hash: Mapped[str] = mapped_column(String(64), unique=True)
    document_mask: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(50))
    gender: Mapped[str | None] = mapped_column(String(10))
    birth_date: Mapped[date | None] = mapped_column(Date)
    phone_enc: Mapped[bytes] = mapped_column(LargeBinary)
    phone_hash: Mapped[str] = mapped_column(String(64), index=True)
    phone_mask: Mapped[str] = mapped_column(String(20))
    # Optional: for notifications by e-mail; encrypted like the phone number.
    email_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    email_mask: Mapped[str | None] = mapped_column(String(260))
    unit_code: Mapped[str] = mapped_column(String(16))
    unit_path: Mapped[str] = mapped_column(String(120, collation="C"), index=True)
    created_by: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = created_now()


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learners.id"), unique=True)
    number: Mapped[str | None] = mapped_column(String(20), unique=True)
    status: Mapped[AccountStatus] = mapped_column(value_enum(AccountStatus, "account_status"))
    unit_code: Mapped[str] = mapped_column(String(16))
    unit_path: Mapped[str] = mapped_column(String(120, collation="C"), index=True)
    opened_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_now()

    learner: Mapped[Learner] = relationship()


class Application(Base):
    __tablename__ = "applications"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    kind: Mapped[ApplicationKind] = mapped_column(value_enum(ApplicationKind, "application_kind"))
    outcome_kind: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[ApplicationStatus] = mapped_column(
        value_enum(ApplicationStatus, "application_status")
    )
    learner_id: Mapped[int] = mapped_column(ForeignKey("learners.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    unit_code: Mapped[str] = mapped_column(String(16))
    unit_path: Mapped[str] = mapped_column(String(120, collation="C"))
    taken_by_id: Mapped[int] = mapped_column(Integer)
    taken_by: Mapped[str] = mapped_column(String(64))
    round: Mapped[int] = mapped_column(Integer, default=1)
    version: Mapped[int] = mapped_column(Integer, default=1)
    certificate_number: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_now()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    final_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    # Set and appended to when an application is taken, so its first answer needs no query.
    learner: Mapped[Learner] = relationship()
    account: Mapped[Account] = relationship()
    versions: Mapped[list[ApplicationVersion]] = relationship(order_by="ApplicationVersion.version")
    events: Mapped[list[ApplicationEvent]] = relationship(order_by="ApplicationEvent.id")

    __table_args__ = (
        Index("ix_applications_unit_path_created", "unit_path", "created_at"),
        Index("ix_applications_status", "status"),
    )


class ApplicationVersion(Base):
    """Every version of an application's data and evidence, kept as it was submitted."""

    __tablename__ = "application_versions"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    application_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("applications.id"))
    version: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    attachments: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    created_by_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = created_now()

    __table_args__ = (UniqueConstraint("application_id", "version", name="uq_version"),)


class ApplicationEvent(Base):
    """The timeline: taken, each level's decision, returned, resubmitted, withdrawn, final."""

    __tablename__ = "application_events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    application_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("applications.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    type: Mapped[str] = mapped_column(String(30))
    round: Mapped[int] = mapped_column(Integer)
    level: Mapped[str | None] = mapped_column(String(20))
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)


class Attachment(Base):
    """Evidence, stored content-addressed: the file's name is its SHA-256."""

    __tablename__ = "attachments"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer)
    uploaded_by_id: Mapped[int] = mapped_column(Integer)
    unit_path: Mapped[str] = mapped_column(String(120, collation="C"))
    created_at: Mapped[datetime] = created_now()


class LedgerEntry(Base):
    """Append-only (a trigger refuses UPDATE and DELETE): one posting per application."""

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    application_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("applications.id"), unique=True)
    outcome_kind: Mapped[str] = mapped_column(String(40))
    credits: Mapped[Decimal] = mapped_column(Numeric(8, 2), default=Decimal(0))
    hours: Mapped[Decimal] = mapped_column(Numeric(8, 2), default=Decimal(0))
    description: Mapped[str] = mapped_column(String(200))
    posted_at: Mapped[datetime] = created_now()


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"

    staff_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(100))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = created_now()


class ProcessedMessage(Base):
    """Messages already acted upon, so a redelivered one changes nothing."""

    __tablename__ = "processed_messages"

    message_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    task_name: Mapped[str] = mapped_column(String(100))
    processed_at: Mapped[datetime] = created_now()


class Outbox(OutboxMixin, Base):
    pass
