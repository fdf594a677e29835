"""The review service's tables: the route table, and one case per application, level and round."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Identity,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import naming_metadata, value_enum
from shared.levels import Level
from shared.outbox import OutboxMixin
from shared.poison import PoisonMessageMixin


class Base(DeclarativeBase):
    metadata = naming_metadata()


class CaseStatus(enum.StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"
    DECIDED = "decided"
    WITHDRAWN = "withdrawn"


class Decision(enum.StrEnum):
    APPROVE = "approve"  # pass up, or finish at the route's last level
    REJECT = "reject"
    RETURN = "return"  # for correction: the round ends, the window resubmits


# A case people still have to decide: in the inbox, claimed or not.
OPEN_STATUSES = (CaseStatus.PENDING, CaseStatus.CLAIMED)


class Route(Base):
    """How far an application kind climbs; editable, versioned (a case keeps its version)."""

    __tablename__ = "routes"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(40))
    outcome_kind: Mapped[str | None] = mapped_column(String(40))
    top_level: Mapped[Level] = mapped_column(value_enum(Level, "review_level"))
    # Credits above this amount climb one level further (None: never).
    escalate_over_credits: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))
    created_by_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (UniqueConstraint("version", "kind", "outcome_kind", name="uq_route"),)


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    application_id: Mapped[uuid.UUID] = mapped_column()
    round: Mapped[int] = mapped_column(Integer)
    level: Mapped[Level] = mapped_column(value_enum(Level, "review_level"))
    unit_code: Mapped[str] = mapped_column(String(16))
    unit_path: Mapped[str] = mapped_column(String(120, collation="C"))
    point_code: Mapped[str] = mapped_column(String(16))
    point_path: Mapped[str] = mapped_column(String(120, collation="C"))
    kind: Mapped[str] = mapped_column(String(40))
    outcome_kind: Mapped[str | None] = mapped_column(String(40))
    taken_by_id: Mapped[int] = mapped_column(Integer)
    credits: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))
    hours: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))
    certificate_number: Mapped[str | None] = mapped_column(String(64))
    attachments: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    dates: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict, server_default="{}")
    top_level: Mapped[Level] = mapped_column(value_enum(Level, "review_level"))
    route_version: Mapped[int] = mapped_column(Integer)
    status: Mapped[CaseStatus] = mapped_column(value_enum(CaseStatus, "case_status"))
    checks: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # The level's deadline; the sweep sets overdue_at the first time it finds the case late
    # and reminded_at each time it reminds the unit.
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    overdue_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reminded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_reason: Mapped[str | None] = mapped_column(Text)
    claimed_by_id: Mapped[int | None] = mapped_column(Integer)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claim_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision: Mapped[Decision | None] = mapped_column(value_enum(Decision, "case_decision"))
    decided_by_id: Mapped[int | None] = mapped_column(Integer)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_unit_name: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(Text)
    # The W3C traceparent of the span that opened the case (tracing on): a decision's trace
    # links to it (shared/tracing.py).
    traceparent: Mapped[str | None] = mapped_column(String(128))
    # An import reviewed as one batch: its figures and record row numbers
    # (``shared.contracts.BatchSummary``; its sample rows are read from intake, masked), and
    # the rows this level rejected with reasons.
    batch: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # A conversion outside any rule (an expert judgement): routed one level higher.
    expert: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    rejected_rows: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)

    __table_args__ = (
        # A redelivered message opens nothing new: one case per application, level and round.
        UniqueConstraint("application_id", "level", "round", name="uq_case"),
        Index("ix_cases_unit_status_opened", "unit_code", "status", "opened_at"),
        Index("ix_cases_certificate_number", "certificate_number"),
        Index(
            "ix_cases_open_due",
            "due_at",
            postgresql_where=text("status IN ('pending', 'claimed')"),
        ),
        Index("ix_cases_unit_path_status", "unit_path", "status"),
    )


class AuditRecord(Base):
    """Append-only (a trigger refuses UPDATE and DELETE): every claim, release and decision."""

    __tablename__ = "audit_records"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor_id: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(30))
    case_id: Mapped[uuid.UUID] = mapped_column()
    application_id: Mapped[uuid.UUID] = mapped_column()
    level: Mapped[str] = mapped_column(String(20))
    unit_code: Mapped[str] = mapped_column(String(16))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class Outbox(OutboxMixin, Base):
    pass


class PoisonMessage(PoisonMessageMixin, Base):
    """A message this service's workers could not act on (shared/poison.py)."""
