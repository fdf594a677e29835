"""The intake service's tables: learners, learning accounts, applications with their
versions and timeline, evidence, the ledger, idempotency keys, processed messages, outbox.

Names, ID and phone numbers and e-mail addresses are stored only encrypted (``*_enc``), with
a keyed hash beside them (``*_hash``) for exact comparison and a mask (``*_mask``) to show;
see ``shared.pii``.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
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
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.db import created_now, naming_metadata, value_enum
from shared.outbox import OutboxMixin
from shared.poison import PoisonMessageMixin


class Base(DeclarativeBase):
    metadata = naming_metadata()


class ApplicationKind(enum.StrEnum):
    ACCOUNT_OPENING = "account_opening"
    DEPOSIT = "deposit"
    # Taken in a later issue; the tables already hold them.
    CONVERSION = "conversion"
    CERTIFICATE = "certificate"
    # A file of social-training records from a point, reviewed as one batch per level.
    IMPORT = "import"


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
    name_enc: Mapped[bytes] = mapped_column(LargeBinary)
    name_hash: Mapped[str] = mapped_column(String(64))
    name_mask: Mapped[str] = mapped_column(String(50))
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
    # Set when the account was opened collectively by a bulk import, not by an application.
    opened_by_import_id: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[datetime] = created_now()

    learner: Mapped[Learner] = relationship()

    __table_args__ = (Index("ix_accounts_opened_at", "opened_at"),)


class Application(Base):
    __tablename__ = "applications"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    kind: Mapped[ApplicationKind] = mapped_column(value_enum(ApplicationKind, "application_kind"))
    outcome_kind: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[ApplicationStatus] = mapped_column(
        value_enum(ApplicationStatus, "application_status")
    )
    # None for an import: its records name their learners.
    learner_id: Mapped[int | None] = mapped_column(ForeignKey("learners.id"), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
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
    learner: Mapped[Learner | None] = relationship()
    account: Mapped[Account | None] = relationship()
    versions: Mapped[list[ApplicationVersion]] = relationship(order_by="ApplicationVersion.version")
    events: Mapped[list[ApplicationEvent]] = relationship(order_by="ApplicationEvent.id")

    __table_args__ = (
        Index("ix_applications_unit_path_created", "unit_path", "created_at"),
        Index("ix_applications_status", "status"),
        Index("ix_applications_final_at", "final_at"),
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
    # The unit that acted (the point that took it, the level that decided), by code and by
    # its name as the actor's token gave it.
    unit_code: Mapped[str | None] = mapped_column(String(16))
    unit_name: Mapped[str | None] = mapped_column(String(200))


class Attachment(Base):
    """Evidence, stored content-addressed: the file's name is its SHA-256."""

    __tablename__ = "attachments"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer)
    uploaded_by_id: Mapped[int] = mapped_column(Integer)
    unit_path: Mapped[str] = mapped_column(String(120, collation="C"))
    created_at: Mapped[datetime] = created_now()


class EntryKind(enum.StrEnum):
    DEPOSIT = "deposit"  # an approved deposit application's outcome
    IMPORT = "import"  # an approved bulk import's record
    CONVERSION = "conversion"  # credits an approved conversion converted outcomes into
    REVERSAL = "reversal"  # a conversion taken back (its outcome found false): never an edit


OUTCOME_ENTRIES = (EntryKind.DEPOSIT, EntryKind.IMPORT)  # what a learner deposited


class LedgerKey(Base):
    """What makes a posting once: one row per ledger entry, unpartitioned, holding the
    entry's sources under unique keys (an application's entry of a kind, an import's record).
    ``ledger_entries`` is partitioned by year, and a unique key there would have to include
    the year, so these keys could not hold across years there; here they do. Written with its
    entry in one statement (``services.intake.posting``), never alone; append-only like it.
    What refers to an entry by its id (reservations, certificate lines) refers to this row."""

    __tablename__ = "ledger_keys"

    entry_id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    entry_kind: Mapped[EntryKind] = mapped_column(value_enum(EntryKind, "entry_kind"))
    application_id: Mapped[uuid.UUID | None] = mapped_column()
    import_record_id: Mapped[int | None] = mapped_column(BigInteger)
    # The entry's own posted_at: which partition holds it, so a look-up by key prunes.
    posted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(
            "(application_id IS NULL) <> (import_record_id IS NULL)", name="one_source"
        ),
        Index(
            "uq_ledger_keys_application_entry",
            "application_id",
            "entry_kind",
            unique=True,
            postgresql_where=text("application_id IS NOT NULL"),
        ),
        Index(
            "uq_ledger_keys_import_record",
            "import_record_id",
            unique=True,
            postgresql_where=text("import_record_id IS NOT NULL"),
        ),
    )


class LedgerEntry(Base):
    """Append-only (a trigger refuses UPDATE and DELETE): one posting per application and
    kind (a conversion's credits, later perhaps their reversal), or per record of an import;
    the "once" is held by its key row (``LedgerKey``), whose id it takes.

    Partitioned by range of ``posted_at``, one partition per China-time year
    (``ledger_entries_2025`` holds 2025-01-01 00:00+08 up to 2026-01-01 00:00+08), made by the
    SQL function ``ledger_entries_make_year(year)``, and a default partition for any other
    time (migration 0011; docs/operations.md, section 13). Posted only through
    ``services.intake.posting``."""

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(ForeignKey("ledger_keys.entry_id"), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    entry_kind: Mapped[EntryKind] = mapped_column(value_enum(EntryKind, "entry_kind"))
    application_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("applications.id"))
    import_record_id: Mapped[int | None] = mapped_column(ForeignKey("import_records.id"))
    # The acceptance point that took the outcome: what the assessment counts it under.
    unit_path: Mapped[str] = mapped_column(String(120, collation="C"))
    outcome_kind: Mapped[str] = mapped_column(String(40))
    credits: Mapped[Decimal] = mapped_column(Numeric(8, 2), default=Decimal(0))
    hours: Mapped[Decimal] = mapped_column(Numeric(8, 2), default=Decimal(0))
    description: Mapped[str] = mapped_column(String(200))
    # A conversion's (or reversal's) target and what it stands on: the standard version, the
    # rules applied and the outcomes consumed, so the entry explains itself.
    target_institution: Mapped[str | None] = mapped_column(String(40))
    target_programme: Mapped[str | None] = mapped_column(String(40))
    basis: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # The partition key, so part of the primary key (PostgreSQL requires it there).
    posted_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), primary_key=True, server_default=func.now()
    )

    __table_args__ = (
        CheckConstraint(
            "(application_id IS NULL) <> (import_record_id IS NULL)", name="one_source"
        ),
        Index("ix_ledger_entries_posted_at", "posted_at"),
        {"postgresql_partition_by": "RANGE (posted_at)"},
    )


class _LedgerTotals:
    """What the ledger posted in one China-time period at one point, by entry and outcome
    kind: kept by a trigger on ``ledger_entries`` in the transaction of every insert (COPY
    and INSERT ... SELECT included), so the assessment sums periods instead of entries. The
    ledger is append-only, so inserts are all the trigger follows: a migration that rewrites
    entries (with the append-only trigger disabled) rebuilds these from them."""

    unit_path: Mapped[str] = mapped_column(String(120, collation="C"), primary_key=True)
    entry_kind: Mapped[EntryKind] = mapped_column(
        value_enum(EntryKind, "entry_kind"), primary_key=True
    )
    outcome_kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    entries: Mapped[int] = mapped_column(BigInteger)
    hours: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    credits: Mapped[Decimal] = mapped_column(Numeric(16, 2))


class LedgerDay(_LedgerTotals, Base):
    """A China-time calendar day's postings at a point (see ``_LedgerTotals``)."""

    __tablename__ = "ledger_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True, sort_order=-1)


class LedgerMonth(_LedgerTotals, Base):
    """A China-time calendar month's postings at a point, ``month`` its first day: a year's
    figures sum twelve of these per point instead of 365 days."""

    __tablename__ = "ledger_months"

    month: Mapped[date] = mapped_column(Date, primary_key=True, sort_order=-1)


class ImportStatus(enum.StrEnum):
    RECEIVED = "received"  # stored and checked; its rows not yet read
    PROCESSING = "processing"  # chunks being read
    IN_REVIEW = "in_review"  # every row accounted for; the batch is with review
    NO_RECORDS = "no_records"  # every row was invalid or a duplicate: nothing to review
    # The workbook held more rows than it declared and than the limit: no row was taken.
    REFUSED = "refused"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"  # its batch withdrawn by the point before review ended


class RecordStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Import(Base):
    """A file of social-training records sent by an acceptance point; one per point and file
    (the same file sent again is the same import)."""

    __tablename__ = "imports"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    unit_code: Mapped[str] = mapped_column(String(16))
    unit_path: Mapped[str] = mapped_column(String(120, collation="C"), index=True)
    uploaded_by_id: Mapped[int] = mapped_column(Integer)
    uploaded_by: Mapped[str] = mapped_column(String(64))
    file_sha256: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(200))
    file_format: Mapped[str] = mapped_column(String(10))
    encoding: Mapped[str | None] = mapped_column(String(20))
    size: Mapped[int] = mapped_column(Integer)
    # The rows as UTF-8 CSV, content-addressed like the file: what the chunks read.
    rows_sha256: Mapped[str | None] = mapped_column(String(64))
    rows_total: Mapped[int | None] = mapped_column(Integer)
    chunk_size: Mapped[int] = mapped_column(Integer)
    status: Mapped[ImportStatus] = mapped_column(value_enum(ImportStatus, "import_status"))
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    valid: Mapped[int] = mapped_column(Integer, default=0)
    invalid: Mapped[int] = mapped_column(Integer, default=0)
    duplicate: Mapped[int] = mapped_column(Integer, default=0)
    accounts_opened: Mapped[int] = mapped_column(Integer, default=0)
    hours_total: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal(0))
    application_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("applications.id"))
    created_at: Mapped[datetime] = created_now()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    ready_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("unit_code", "file_sha256", name="uq_import_file"),)


class ImportChunk(Base):
    """A range of an import's rows, read in one transaction: done once, whoever redoes it."""

    __tablename__ = "import_chunks"

    import_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("imports.id"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    first_row: Mapped[int] = mapped_column(Integer)
    last_row: Mapped[int] = mapped_column(Integer)
    # The chunk's own rows file: a chunk reads its rows, not the whole file again.
    rows_sha256: Mapped[str] = mapped_column(String(64))
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ImportIssue(Base):
    """A row that was not taken: invalid (one line per column at fault) or a duplicate."""

    __tablename__ = "import_issues"

    import_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("imports.id"), primary_key=True)
    row: Mapped[int] = mapped_column(Integer, primary_key=True)
    column: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # invalid | duplicate
    # As sent, except ID and phone numbers, which are kept masked.
    value: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(300))


class ImportRecord(Base):
    """One social-training record taken from an import; posted to the learner's ledger when
    the batch is approved, unless its row was rejected."""

    __tablename__ = "import_records"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    import_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("imports.id"))
    row: Mapped[int] = mapped_column(Integer)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learners.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    # Keyed hash of the document and the training (organiser, programme, dates): the same
    # record is held once, whichever file brings it.
    record_key: Mapped[str] = mapped_column(String(64))
    organiser: Mapped[str] = mapped_column(String(100))
    programme: Mapped[str] = mapped_column(String(100))
    hours: Mapped[Decimal] = mapped_column(Numeric(8, 2))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    certificate_number: Mapped[str] = mapped_column(String(64))
    status: Mapped[RecordStatus] = mapped_column(value_enum(RecordStatus, "record_status"))
    rejected_level: Mapped[str | None] = mapped_column(String(20))
    rejected_reason: Mapped[str | None] = mapped_column(String(500))

    __table_args__ = (
        UniqueConstraint("import_id", "row", name="uq_import_record_row"),
        Index(
            "uq_import_records_held",
            "record_key",
            unique=True,
            postgresql_where=text("status <> 'rejected'"),
        ),
    )


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


class PoisonMessage(PoisonMessageMixin, Base):
    """A message this service's workers could not act on (shared/poison.py)."""


# The conversion and certificate tables share this metadata (they import Base from here).
from services.intake.certificates import models as _certificate_models  # noqa: E402, F401
from services.intake.conversion import models as _conversion_models  # noqa: E402, F401
