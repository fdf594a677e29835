"""Reading one chunk of an import; the last chunk done hands the import on as a batch.

(The SQL text built here (``noqa: S608``) joins this module's own table and column names,
never input: values always travel as parameters or through COPY.)

One transaction per chunk: its rows checked, learners without an account given one
(collectively, marked with the import), records taken, issues kept, counters moved and the
chunk marked done. Redone after a crash or a redelivery, a done chunk changes nothing; two
chunks of one import may run at once in different workers.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import any_, func, select, text
from sqlalchemy.orm import Session

from services.intake.context import IntakeContext
from services.intake.imports import batches, files, lifecycle
from services.intake.imports.accounts import Holder, accounts_for, digests
from services.intake.imports.rows import Issue, RowRecord, check_row
from services.intake.learners import name_hash
from services.intake.models import (
    AccountStatus,
    Import,
    ImportChunk,
    ImportIssue,
    ImportRecord,
    RecordStatus,
)
from shared.db import copy_rows, stage, utcnow
from shared.pii import mask_account_number, mask_document_number, mask_name


@dataclass
class Tally:
    read: int = 0
    valid: int = 0
    invalid: int = 0
    duplicate: int = 0
    accounts_opened: int = 0
    hours: Decimal = Decimal(0)
    issues: list[tuple[Any, ...]] = field(default_factory=list)

    def refuse(self, imported: Import, row: int, issues: list[Issue]) -> None:
        self.invalid += 1
        for issue in issues:
            self.issues.append(
                (imported.id, row, issue.column, lifecycle.INVALID, issue.value, issue.reason)
            )

    def repeat(self, imported: Import, row: int, reason: str) -> None:
        self.duplicate += 1
        self.issues.append(
            (imported.id, row, lifecycle.WHOLE_ROW, lifecycle.DUPLICATE, None, reason)
        )


def read_chunk(session: Session, ctx: IntakeContext, import_id: uuid.UUID, number: int) -> str:
    """Read chunk ``number`` of an import; return what was done (for the log)."""
    chunk = session.get(ImportChunk, (import_id, number), with_for_update=True)
    if chunk is None:
        return "unknown chunk"
    if chunk.done:
        return "done already"
    imported = session.get_one(Import, import_id)
    rows = files.read_rows(lifecycle.read_stored(ctx, chunk.rows_sha256))
    repeats = set(
        session.scalars(
            select(ImportIssue.row).where(
                ImportIssue.import_id == import_id,
                ImportIssue.kind == lifecycle.DUPLICATE,
                ImportIssue.row.between(chunk.first_row, chunk.last_row),
            )
        )
    )
    tally = Tally(read=len(rows), duplicate=len(repeats))
    today = datetime.now(UTC).date()
    records: list[RowRecord] = []
    for row in rows:
        if int(row[0]) in repeats:
            continue
        checked = check_row(row, today)
        if isinstance(checked, RowRecord):
            records.append(checked)
        else:
            tally.refuse(imported, int(row[0]), checked)
    _take(session, ctx, imported, records, tally)
    if tally.issues:
        copy_rows(session, "import_issues", ISSUE_COLUMNS, tally.issues)
    chunk.done, chunk.done_at = True, utcnow()
    return _count(session, imported, tally)


RECORD_COLUMNS = (
    "import_id", "row", "learner_id", "account_id", "record_key", "organiser", "programme",
    "hours", "start_date", "end_date", "certificate_number", "status",
)  # fmt: skip
ISSUE_COLUMNS = ("import_id", "row", "column", "kind", "value", "reason")


def _take(
    session: Session,
    ctx: IntakeContext,
    imported: Import,
    records: list[RowRecord],
    tally: Tally,
) -> None:
    """Accounts for the learners, then the records; a record already held is a duplicate."""
    hashes = {
        r.row: ctx.cipher.lookup_hash(
            f"document:{r.identity.document_type.value}", r.identity.number
        )
        for r in records
    }
    holders, opened = accounts_for(session, ctx, imported, records, hashes)
    tally.accounts_opened += opened
    rows: list[tuple[Any, ...]] = []
    for record in records:
        holder = holders[hashes[record.row]]
        problem = _mismatch(ctx, record, holder)
        if problem:
            tally.refuse(imported, record.row, [problem])
            continue
        key = ctx.cipher.lookup_hash(
            "training",
            f"{hashes[record.row]}|{record.organiser}|{record.programme}|"
            f"{record.start_date}|{record.end_date}",
        )
        rows.append(
            (
                imported.id,
                record.row,
                holder.learner_id,
                holder.account_id,
                key,
                record.organiser,
                record.programme,
                record.hours,
                record.start_date,
                record.end_date,
                record.certificate_number,
                RecordStatus.PENDING.value,
            )
        )
    taken = _insert_records(session, rows)
    held = [r for r in rows if r[1] not in taken]
    for row, reason in _holders(session, imported, held):
        tally.repeat(imported, row, reason)
    for r in rows:
        if r[1] in taken:
            tally.valid += 1
            tally.hours += r[7]


def _insert_records(session: Session, rows: list[tuple[Any, ...]]) -> set[int]:
    """Take the records no one holds yet (the file's earlier row first); return their rows.
    Inserted in key order, as every chunk does, so two chunks taking the same keys wait for
    each other in one order and never deadlock."""
    if not rows:
        return set()
    stage(session, "import_records", "staged_records", RECORD_COLUMNS)
    copy_rows(session, "staged_records", RECORD_COLUMNS, rows)
    columns = ", ".join(RECORD_COLUMNS)
    taken = session.scalars(
        text(
            f"INSERT INTO import_records ({columns}) SELECT {columns} FROM staged_records "  # noqa: S608
            "ORDER BY record_key, row ON CONFLICT (record_key) WHERE status <> 'rejected' "
            "DO NOTHING "
            "RETURNING row"
        )
    )
    return set(taken)


def _holders(
    session: Session, imported: Import, held: list[tuple[Any, ...]]
) -> list[tuple[int, str]]:
    """Why each record was not taken: which row of which import already holds it."""
    if not held:
        return []
    holders = {
        key: (import_id, row)
        for key, import_id, row in session.execute(
            select(ImportRecord.record_key, ImportRecord.import_id, ImportRecord.row).where(
                ImportRecord.record_key == any_(digests([r[4] for r in held])),
                ImportRecord.status != RecordStatus.REJECTED,
            )
        )
    }
    reasons = []
    for r in held:
        import_id, row = holders.get(r[4], (None, None))
        if import_id == imported.id:
            reason = f"the same record as row {row} of this file"
        elif import_id is not None:
            reason = f"already held (import {import_id}, row {row})"
        else:
            reason = "already held"
        reasons.append((r[1], reason))
    return reasons


def _mismatch(ctx: IntakeContext, record: RowRecord, holder: Holder) -> Issue | None:
    if holder.name_hash != name_hash(ctx, record.name):
        masked = mask_account_number(holder.number or "")
        return Issue("name", mask_name(record.name), f"not the name on learning account {masked}")
    if holder.status == AccountStatus.PENDING:
        return Issue(
            "document_number",
            mask_document_number(record.identity.number),
            "an application to open this learner's account is still in review",
        )
    return None


def _count(session: Session, imported: Import, tally: Tally) -> str:
    """Move the import's counters; when no chunk is left, the batch goes to review. The lock
    on the import orders the chunks' endings, so exactly one of them sees nothing left."""
    # NO KEY UPDATE: this chunk's records already hold a KEY SHARE lock on the import (their
    # foreign key); FOR UPDATE would wait on every other chunk's, and theirs on this one's.
    session.refresh(imported, with_for_update={"key_share": True})
    imported.rows_read += tally.read
    imported.valid += tally.valid
    imported.invalid += tally.invalid
    imported.duplicate += tally.duplicate
    imported.accounts_opened += tally.accounts_opened
    imported.hours_total += tally.hours
    left = session.scalar(
        select(func.count())
        .select_from(ImportChunk)
        .where(ImportChunk.import_id == imported.id, ImportChunk.done.is_(False))
    )
    done = (
        f"{tally.read} rows: {tally.valid} valid, {tally.invalid} invalid, "
        f"{tally.duplicate} duplicate"
    )
    if left:
        return done
    batches.take(session, imported)
    return done + f"; import {imported.status.value}"
