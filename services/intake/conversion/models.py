"""Intake's conversion tables: the catalogue the rules point at, the conversion standards with
their versions and rules, and the reservations of outcomes by conversion applications.

A standard (转换标准) has versions: a draft may be edited; a published version never changes
(a trigger refuses any change to its rules); an edit is a new version that supersedes it. A
reservation holds an outcome (a ledger entry of a deposit or an import record) for one
conversion application: reserved while it is in review, consumed once approved, released
when it is rejected or withdrawn; a partial unique index lets one outcome be held by one
application only, whichever comes first, even at the same instant.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from services.intake.models import Base
from shared.db import created_now, value_enum


class CatalogueCertificate(Base):
    """A certificate of the national catalogue a rule may name (its code, as on the
    certificate: e.g. an occupation's code), and the outcome kind it is deposited as."""

    __tablename__ = "catalogue_certificates"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    outcome_kind: Mapped[str] = mapped_column(String(40))  # vocational or skill certificate
    # The levels it is issued at (初级 ... 高级技师, or 五级 ... 一级); none listed: any.
    levels: Mapped[list[str]] = mapped_column(ARRAY(String(10)), server_default="{}", default=list)


class CatalogueInstitution(Base):
    __tablename__ = "catalogue_institutions"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


class CatalogueProgramme(Base):
    __tablename__ = "catalogue_programmes"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    institution_code: Mapped[str] = mapped_column(ForeignKey("catalogue_institutions.code"))
    name: Mapped[str] = mapped_column(String(200))


class CatalogueCourse(Base):
    __tablename__ = "catalogue_courses"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    programme_code: Mapped[str] = mapped_column(ForeignKey("catalogue_programmes.code"))
    name: Mapped[str] = mapped_column(String(200))
    credits: Mapped[Decimal | None] = mapped_column(Numeric(6, 1))


class VersionStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    RETIRED = "retired"


class ConversionStandard(Base):
    """A conversion standard, published by the provincial centre or by a branch for its city."""

    __tablename__ = "conversion_standards"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    publisher_code: Mapped[str] = mapped_column(String(16))
    publisher_path: Mapped[str] = mapped_column(String(120, collation="C"))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_now()

    versions: Mapped[list[StandardVersion]] = relationship(
        order_by="StandardVersion.version", back_populates="standard"
    )


class StandardVersion(Base):
    __tablename__ = "conversion_standard_versions"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    standard_id: Mapped[int] = mapped_column(ForeignKey("conversion_standards.id"))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[VersionStatus] = mapped_column(value_enum(VersionStatus, "version_status"))
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date)
    # The caps a decision must respect, counted per learner (see ``caps.py``).
    caps: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("conversion_standard_versions.id"))
    note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_now()
    published_by: Mapped[str | None] = mapped_column(String(64))
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    retired_by: Mapped[str | None] = mapped_column(String(64))
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    retired_reason: Mapped[str | None] = mapped_column(Text)

    standard: Mapped[ConversionStandard] = relationship(back_populates="versions")
    rules: Mapped[list[ConversionRule]] = relationship(order_by="ConversionRule.number")

    __table_args__ = (UniqueConstraint("standard_id", "version", name="uq_standard_version"),)


class ConversionRule(Base):
    """One rule of a version: which outcomes it matches (by kind and identifying fields), the
    target it converts them to, the credits it gives, and its conditions."""

    __tablename__ = "conversion_rules"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("conversion_standard_versions.id"))
    number: Mapped[int] = mapped_column(Integer)  # "rule 3" of its version
    # certificate: catalogue_code (+ min_level); training: organiser (+ min_hours);
    # course: institution and course code of an academic-credit outcome.
    source: Mapped[str] = mapped_column(String(20))
    catalogue_code: Mapped[str | None] = mapped_column(String(40))
    organiser: Mapped[str | None] = mapped_column(String(100))
    source_institution: Mapped[str | None] = mapped_column(String(100))
    source_course: Mapped[str | None] = mapped_column(String(30))
    min_level: Mapped[str | None] = mapped_column(String(20))
    min_hours: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))
    min_score: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))
    max_age_years: Mapped[int | None] = mapped_column(Integer)
    target_institution: Mapped[str] = mapped_column(String(40))
    target_programme: Mapped[str] = mapped_column(String(40))
    target_course: Mapped[str | None] = mapped_column(String(40))
    # fixed: ``credits``; per_hours: floor(hours / hours_per_credit) to a half, at most
    # ``max_credits``.
    method: Mapped[str] = mapped_column(String(20))
    credits: Mapped[Decimal | None] = mapped_column(Numeric(6, 1))
    hours_per_credit: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))
    max_credits: Mapped[Decimal | None] = mapped_column(Numeric(6, 1))

    __table_args__ = (
        UniqueConstraint("version_id", "number", name="uq_rule_number"),
        # A conversion reads the rules of its target only.
        Index("ix_conversion_rules_target", "version_id", "target_programme", "target_institution"),
    )


class ReservationStatus(enum.StrEnum):
    RESERVED = "reserved"  # its conversion is in review
    CONSUMED = "consumed"  # its conversion was approved
    RELEASED = "released"  # rejected or withdrawn: the outcome is free again
    REVERSED = "reversed"  # approved, then reversed (e.g. the outcome found false)


class Reservation(Base):
    """An outcome held by a conversion application, and what it counts toward the caps."""

    __tablename__ = "conversion_reservations"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    ledger_entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_keys.entry_id"))
    application_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("applications.id"), index=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learners.id"), index=True)
    status: Mapped[ReservationStatus] = mapped_column(
        value_enum(ReservationStatus, "reservation_status")
    )
    credits: Mapped[Decimal] = mapped_column(Numeric(6, 1))
    # What the caps count it under: the assessment year it was applied in, the target, and
    # whether the outcome is a certificate.
    year_start: Mapped[date] = mapped_column(Date)
    target_institution: Mapped[str] = mapped_column(String(40))
    target_programme: Mapped[str] = mapped_column(String(40))
    certificate: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = created_now()

    __table_args__ = (
        # One outcome, one conversion: a released reservation frees it again.
        Index(
            "uq_conversion_reservations_held",
            "ledger_entry_id",
            unique=True,
            postgresql_where=text("status <> 'released'"),
        ),
    )


class AuditRecord(Base):
    """Append-only (a trigger refuses UPDATE and DELETE): who published, retired or edited a
    standard, changed the catalogue, or reversed a conversion, and when."""

    __tablename__ = "audit_records"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    at: Mapped[datetime] = created_now()
    actor_id: Mapped[int | None] = mapped_column(Integer)  # None: bootstrap
    actor_username: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(50))
    unit_code: Mapped[str] = mapped_column(String(16))
    unit_path: Mapped[str] = mapped_column(String(120, collation="C"), index=True)
    target: Mapped[str | None] = mapped_column(String(100))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
