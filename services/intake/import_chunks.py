"""Reading one chunk of an import, and taking the batch when the last chunk is done.

One transaction per chunk: its rows checked, learners without an account given one
(collectively, marked with the import), records taken, issues kept, counters moved and the
chunk marked done. Redone after a crash or a redelivery, a done chunk changes nothing; two
chunks of one import may run at once in different workers.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from services.intake import import_files, imports, timeline
from services.intake.context import IntakeContext
from services.intake.decisions import ACCOUNT_NUMBER_SEQ
from services.intake.import_rows import Issue, RowRecord, check_row
from services.intake.models import (
    Account,
    AccountStatus,
    ApplicationKind,
    Import,
    ImportChunk,
    ImportIssue,
    ImportRecord,
    ImportStatus,
    Learner,
    RecordStatus,
)
from shared.auth import Principal
from shared.db import utcnow
from shared.pii import mask_account_number, mask_document_number, mask_phone

SAMPLE_ROWS = 20


@dataclass
class Tally:
    read: int = 0
    valid: int = 0
    invalid: int = 0
    duplicate: int = 0
    accounts_opened: int = 0
    hours: Decimal = Decimal(0)
    issues: list[dict[str, Any]] = field(default_factory=list)

    def refuse(self, imported: Import, row: int, issues: list[Issue]) -> None:
        self.invalid += 1
        for issue in issues:
            self.issues.append(
                {
                    "import_id": imported.id,
                    "row": row,
                    "column": issue.column,
                    "kind": imports.INVALID,
                    "value": issue.value,
                    "reason": issue.reason,
                }
            )

    def repeat(self, imported: Import, row: int, reason: str) -> None:
        self.duplicate += 1
        self.issues.append(
            {
                "import_id": imported.id,
                "row": row,
                "column": imports.WHOLE_ROW,
                "kind": imports.DUPLICATE,
                "value": None,
                "reason": reason,
            }
        )


def read_chunk(session: Session, ctx: IntakeContext, import_id: uuid.UUID, number: int) -> str:
    """Read chunk ``number`` of an import; return what was done (for the log)."""
    chunk = session.get(ImportChunk, (import_id, number), with_for_update=True)
    if chunk is None:
        return "unknown chunk"
    if chunk.done:
        return "done already"
    imported = session.get(Import, import_id)
    assert imported is not None and imported.rows_sha256 is not None
    rows = import_files.read_rows(
        imports.read_stored(ctx, imported.rows_sha256), chunk.first_row, chunk.last_row
    )
    repeats = set(
        session.scalars(
            select(ImportIssue.row).where(
                ImportIssue.import_id == import_id,
                ImportIssue.kind == imports.DUPLICATE,
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
        session.execute(pg_insert(ImportIssue).on_conflict_do_nothing(), tally.issues)
    chunk.done, chunk.done_at = True, utcnow()
    return _count(session, imported, tally)


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
    accounts = _accounts(session, ctx, imported, records, hashes, tally)
    rows: list[dict[str, Any]] = []
    for record in records:
        holder = accounts[hashes[record.row]]
        problem = _mismatch(record, holder)
        if problem:
            tally.refuse(imported, record.row, [problem])
            continue
        key = ctx.cipher.lookup_hash(
            "training",
            f"{hashes[record.row]}|{record.organiser}|{record.programme}|"
            f"{record.start_date}|{record.end_date}",
        )
        rows.append(
            {
                "import_id": imported.id,
                "row": record.row,
                "learner_id": holder[0].id,
                "account_id": holder[1].id,
                "record_key": key,
                "organiser": record.organiser,
                "programme": record.programme,
                "hours": record.hours,
                "start_date": record.start_date,
                "end_date": record.end_date,
                "certificate_number": record.certificate_number,
                "status": RecordStatus.PENDING,
            }
        )
    taken = _insert_records(session, rows)
    held = [r for r in rows if r["row"] not in taken]
    for row, reason in _holders(session, imported, held):
        tally.repeat(imported, row, reason)
    for r in rows:
        if r["row"] in taken:
            tally.valid += 1
            tally.hours += r["hours"]


def _insert_records(session: Session, rows: list[dict[str, Any]]) -> set[int]:
    if not rows:
        return set()
    statement = (
        pg_insert(ImportRecord)
        .on_conflict_do_nothing(
            index_elements=["record_key"], index_where=text("status <> 'rejected'")
        )
        .returning(ImportRecord.row)
    )
    return set(session.scalars(statement, rows))


def _holders(
    session: Session, imported: Import, held: list[dict[str, Any]]
) -> list[tuple[int, str]]:
    """Why each record was not taken: which row of which import already holds it."""
    if not held:
        return []
    holders = {
        key: (import_id, row)
        for key, import_id, row in session.execute(
            select(ImportRecord.record_key, ImportRecord.import_id, ImportRecord.row).where(
                ImportRecord.record_key.in_([r["record_key"] for r in held]),
                ImportRecord.status != RecordStatus.REJECTED,
            )
        )
    }
    reasons = []
    for r in held:
        import_id, row = holders.get(r["record_key"], (None, None))
        if import_id == imported.id:
            reason = f"the same record as row {row} of this file"
        elif import_id is not None:
            reason = f"already held (import {import_id}, row {row})"
        else:
            reason = "already held"
        reasons.append((r["row"], reason))
    return reasons


def _mismatch(record: RowRecord, holder: tuple[Learner, Account]) -> Issue | None:
    learner, account = holder
    if learner.name != record.name:
        masked = mask_account_number(account.number or "")
        return Issue("name", record.name, f"not the name on learning account {masked}")
    if account.status == AccountStatus.PENDING:
        return Issue(
            "document_number",
            mask_document_number(record.identity.number),
            "an application to open this learner's account is still in review",
        )
    return None


def _accounts(
    session: Session,
    ctx: IntakeContext,
    imported: Import,
    records: list[RowRecord],
    hashes: dict[int, str],
    tally: Tally,
) -> dict[str, tuple[Learner, Account]]:
    """Each document's learner and open account: matched by document, or opened now."""
    wanted = set(hashes.values())
    found = _by_hash(session, wanted)
    new: dict[str, RowRecord] = {}
    for record in records:
        new.setdefault(hashes[record.row], record)
    new = {h: r for h, r in new.items() if h not in found}
    if new:
        _open(session, ctx, imported, new, tally)
        found = _by_hash(session, wanted)
    closed = [a for _, a in found.values() if a.status == AccountStatus.CLOSED]
    if closed:  # an opening refused earlier: the import opens the account this time
        numbers = _numbers(session, len(closed))
        for account, number in zip(closed, numbers, strict=True):
            _mark_opened(account, number, imported)
        tally.accounts_opened += len(closed)
    return found


def _by_hash(session: Session, hashes: set[str]) -> dict[str, tuple[Learner, Account]]:
    if not hashes:
        return {}
    rows = session.execute(
        select(Learner, Account)
        .join(Account, Account.learner_id == Learner.id)
        .where(Learner.document_hash.in_(hashes))
    )
    return {learner.document_hash: (learner, account) for learner, account in rows}


def _open(
    session: Session,
    ctx: IntakeContext,
    imported: Import,
    new: dict[str, RowRecord],
    tally: Tally,
) -> None:
    """Learners and open accounts for documents the bank has not seen, in two statements. A
    document another chunk opened at this moment is left to it (the unique hash decides)."""
    cipher = ctx.cipher
    learners = [
        {
            "document_type": r.identity.document_type.value,
            "document_enc": cipher.encrypt(r.identity.number, "learner.document_number"),
            "document_hash": doc_hash,
            "document_mask": mask_document_number(r.identity.number),
            "name": r.name,
            "gender": r.identity.gender,
            "birth_date": r.identity.birth_date,
            "phone_enc": cipher.encrypt(r.phone, "learner.phone"),
            "phone_hash": cipher.lookup_hash("phone", r.phone),
            "phone_mask": mask_phone(r.phone),
            "unit_code": imported.unit_code,
            "unit_path": imported.unit_path,
            "created_by": imported.uploaded_by_id,
        }
        for doc_hash, r in new.items()
    ]
    created = session.scalars(
        pg_insert(Learner)
        .on_conflict_do_nothing(index_elements=["document_hash"])
        .returning(Learner.id),
        learners,
    ).all()
    if not created:
        return
    now = utcnow()
    accounts = [
        {
            "learner_id": learner_id,
            "number": number,
            "status": AccountStatus.OPEN,
            "unit_code": imported.unit_code,
            "unit_path": imported.unit_path,
            "opened_at": now,
            "opened_by_import_id": imported.id,
        }
        for learner_id, number in zip(created, _numbers(session, len(created)), strict=True)
    ]
    session.execute(pg_insert(Account), accounts)
    tally.accounts_opened += len(created)


def _numbers(session: Session, count: int) -> list[str]:
    """``count`` new account numbers, in the form an approved opening gets."""
    year = datetime.now(UTC).year
    serials = session.scalars(
        select(ACCOUNT_NUMBER_SEQ.next_value()).select_from(func.generate_series(1, count))
    ).all()
    return [f"ZJ{year}{serial:08d}" for serial in serials]


def _mark_opened(account: Account, number: str, imported: Import) -> None:
    account.status, account.number = AccountStatus.OPEN, number
    account.opened_at, account.opened_by_import_id = utcnow(), imported.id


def _count(session: Session, imported: Import, tally: Tally) -> str:
    """Move the import's counters; when no chunk is left, the batch goes to review. The lock
    on the import orders the chunks' endings, so exactly one of them sees nothing left."""
    session.refresh(imported, with_for_update=True)
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
    _finish(session, imported)
    return done + f"; import {imported.status.value}"


def _finish(session: Session, imported: Import) -> None:
    imported.ready_at = utcnow()
    if imported.valid == 0:
        imported.status = ImportStatus.NO_RECORDS
        return
    numbers = list(
        session.scalars(
            select(ImportRecord.row)
            .where(ImportRecord.import_id == imported.id)
            .order_by(ImportRecord.row)
        )
    )
    uploader = Principal(
        staff_id=imported.uploaded_by_id,
        username=imported.uploaded_by,
        unit_code=imported.unit_code,
        unit_path=imported.unit_path,
        unit_level="acceptance_point",
        roles=frozenset(),
    )
    application = timeline.take(
        session,
        uploader,
        ApplicationKind.IMPORT,
        None,
        _batch_data(session, imported, numbers),
        [],
        "social_training",
    )
    session.flush()
    imported.application_id = application.id
    imported.status = ImportStatus.IN_REVIEW


def ranges(numbers: list[int]) -> list[list[int]]:
    """Sorted row numbers as [first, last] runs: how a batch names its records compactly."""
    runs: list[list[int]] = []
    for n in numbers:
        if runs and runs[-1][1] == n - 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return runs


def _batch_data(session: Session, imported: Import, numbers: list[int]) -> dict[str, Any]:
    """What the batch application records and review sees: the import's figures, its dates'
    span, evenly spread sample rows (document numbers masked), and its records' row numbers."""
    step = max(1, len(numbers) // SAMPLE_ROWS)
    picked = numbers[::step][:SAMPLE_ROWS]
    samples = session.execute(
        select(ImportRecord, Learner.name, Learner.document_mask)
        .join(Learner, Learner.id == ImportRecord.learner_id)
        .where(ImportRecord.import_id == imported.id, ImportRecord.row.in_(picked))
        .order_by(ImportRecord.row)
    ).all()
    span = session.execute(
        select(func.min(ImportRecord.start_date), func.max(ImportRecord.end_date)).where(
            ImportRecord.import_id == imported.id
        )
    ).one()
    return {
        "import_id": str(imported.id),
        "filename": imported.filename,
        "rows_total": imported.rows_total,
        "records": imported.valid,
        "invalid": imported.invalid,
        "duplicate": imported.duplicate,
        "accounts_opened": imported.accounts_opened,
        "hours_total": f"{imported.hours_total:.2f}",
        "start_date": _iso(span[0]),
        "end_date": _iso(span[1]),
        "record_rows": ranges(numbers),
        "samples": [
            {
                "row": record.row,
                "name": name,
                "document_number": document_mask,
                "organiser": record.organiser,
                "programme": record.programme,
                "hours": f"{record.hours:.2f}",
                "start_date": record.start_date.isoformat(),
                "end_date": record.end_date.isoformat(),
                "certificate_number": record.certificate_number,
            }
            for record, name, document_mask in samples
        ],
    }


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None
