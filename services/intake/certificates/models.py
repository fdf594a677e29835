"""Intake's certificate tables: each certificate issued (once per approved application), the
ledger entries it states, and its status (valid, suspended, revoked), from which the
published status lists are drawn.

A certificate holds the learner's name, so its signed credential and its offline QR payload
are stored encrypted like every personal datum; its public id (in the QR code's address) is
random, so that only a holder of the paper finds it. Its place in the status lists is chosen
at random and held once (a unique index).
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    Sequence,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from services.intake.models import Base
from shared.db import created_now, value_enum

NUMBER_SEQ = Sequence("certificate_number_seq", metadata=Base.metadata)


class CertificateStatus(enum.StrEnum):
    VALID = "valid"
    SUSPENDED = "suspended"  # held while something it states is looked into; may be lifted
    REVOKED = "revoked"  # for good


class Certificate(Base):
    __tablename__ = "certificates"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    number: Mapped[str] = mapped_column(String(20), unique=True)  # printed: ZJC2026000001
    application_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("applications.id"), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    # The point that took the application (what its staff may read), and the unit whose
    # approval issued it (it, or a unit above it, may suspend or revoke it).
    unit_path: Mapped[str] = mapped_column(String(120, collation="C"), index=True)
    issuing_unit_code: Mapped[str] = mapped_column(String(16))
    issuing_unit_path: Mapped[str] = mapped_column(String(120, collation="C"))
    status: Mapped[CertificateStatus] = mapped_column(
        value_enum(CertificateStatus, "certificate_status"), default=CertificateStatus.VALID
    )
    status_reason: Mapped[str | None] = mapped_column(Text)
    status_by: Mapped[str | None] = mapped_column(String(64))
    status_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status_index: Mapped[int] = mapped_column(Integer, unique=True)
    kid: Mapped[str] = mapped_column(String(32))
    credential_enc: Mapped[bytes] = mapped_column(LargeBinary)  # the signed credential (JSON)
    payload_enc: Mapped[bytes] = mapped_column(LargeBinary)  # the offline QR payload
    # the PDF, once rendered (its facts never change; the fonts' output may, so not signed)
    pdf_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    credential_sha256: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    valid_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_now()


class CertificateEntry(Base):
    """A ledger entry a certificate states: reversing it suspends the certificate."""

    __tablename__ = "certificate_entries"

    certificate_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("certificates.id"), primary_key=True
    )
    ledger_entry_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("ledger_keys.entry_id"), primary_key=True, index=True
    )
