"""The org service's tables: the unit tree, staff, activation codes, sign-ins (token families
and their refresh tokens), audit."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Uuid,
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


class PointState(enum.StrEnum):
    LISTED = "LISTED"
    ALLOCATED = "ALLOCATED"
    ACTIVE = "ACTIVE"
    OPERATING = "OPERATING"
    SUSPENDED = "SUSPENDED"


class Role(enum.StrEnum):
    ADMIN = "admin"  # administers its unit: staff, allocations, suspensions
    MANAGEMENT = "management"
    TECHNICAL = "technical"
    SERVICE = "service"  # service-window staff
    REVIEWER = "reviewer"
    BUREAU = "bureau"  # an education bureau's account, attached to a branch or sub-centre


class Unit(Base):
    __tablename__ = "units"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    level: Mapped[Level] = mapped_column(value_enum(Level, "unit_level"))
    name: Mapped[str] = mapped_column(String(100))
    host_institution: Mapped[str | None] = mapped_column(String(100))
    city: Mapped[str | None] = mapped_column(String(20))
    county: Mapped[str | None] = mapped_column(String(20))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("units.code"))
    # "/ZJ/B01/S001/": the codes of every ancestor and the unit itself, so "everything under
    # X" is one prefix query on an index.
    # Collation "C": byte order, so one btree serves both the LIKE prefix and ORDER BY path.
    path: Mapped[str] = mapped_column(String(120, collation="C"), unique=True)
    seq: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[PointState | None] = mapped_column(value_enum(PointState, "point_state"))
    suspended_from: Mapped[PointState | None] = mapped_column(value_enum(PointState, "point_state"))
    point_kind: Mapped[str | None] = mapped_column(String(30))
    point_tier: Mapped[str | None] = mapped_column(String(20))
    address: Mapped[str | None] = mapped_column(String(200))
    window_address: Mapped[str | None] = mapped_column(String(200))
    window_hours: Mapped[str | None] = mapped_column(String(100))
    listed_by: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    __table_args__ = (
        Index("ix_units_parent_code", "parent_code"),
        Index("ix_units_level_path", "level", "path"),
        CheckConstraint(
            "(level = 'acceptance_point') = (state IS NOT NULL)", name="state_only_for_points"
        ),
        CheckConstraint("(level = 'province') = (parent_code IS NULL)", name="one_root"),
    )


class Staff(Base):
    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"), index=True)
    roles: Mapped[list[str]] = mapped_column(ARRAY(String(20)))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    created_by: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    deactivated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ActivationCode(Base):
    __tablename__ = "activation_codes"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"), index=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class TokenFamily(Base):
    """One sign-in: its refresh tokens, each rotated into the next, and the access tokens
    issued from them (claim ``fam``). A spent refresh token used again means two parties
    hold the sign-in; the family is then revoked, as it is by signing out."""

    __tablename__ = "token_families"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_because: Mapped[str | None] = mapped_column(String(20))  # sign_out, reuse, ...

    __table_args__ = (
        # The minute sync re-publishes the families revoked within an access token's life.
        Index(
            "ix_token_families_revoked_at",
            "revoked_at",
            postgresql_where=text("revoked_at IS NOT NULL"),
        ),
    )


class RefreshToken(Base):
    """``revoked_at`` is when it was spent: rotated, or revoked with its family. A spent one
    is kept until it expires, so that its reuse is recognised as long as it would work."""

    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    family_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("token_families.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class AuditRecord(Base):
    """Append-only: a trigger (see the migration) refuses UPDATE and DELETE."""

    __tablename__ = "audit_records"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_username: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(50))
    unit_code: Mapped[str] = mapped_column(String(16))
    unit_path: Mapped[str] = mapped_column(String(120, collation="C"))
    target: Mapped[str | None] = mapped_column(String(100))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    request_id: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_audit_records_unit_path", "unit_path"),)


class Outbox(OutboxMixin, Base):
    pass


class PoisonMessage(PoisonMessageMixin, Base):
    """A message this service's workers could not act on (shared/poison.py)."""
