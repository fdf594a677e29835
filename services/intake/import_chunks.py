"""Reading one chunk of an import, and taking the batch when the last chunk is done.

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
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import String, any_, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from services.intake import import_files, imports, timeline
from services.intake.context import IntakeContext
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
from shared.db import copy_rows, utcnow
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
    issues: list[tuple[Any, ...]] = field(default_factory=list)

    def refuse(self, imported: Import, row: int, issues: list[Issue]) -> None:
        self.invalid += 1
        for issue in issues:
            self.issues.append(
                (imported.id, row, issue.column, imports.INVALID, issue.value, issue.reason)
            )

    def repeat(self, imported: Import, row: int, reason: str) -> None:
        self.duplicate += 1
        self.issues.append((imported.id, row, imports.WHOLE_ROW, imports.DUPLICATE, None, reason))


def read_chunk(session: Session, ctx: IntakeContext, import_id: uuid.UUID, number: int) -> str:
    """Read chunk ``number`` of an import; return what was done (for the log)."""
    chunk = session.get(ImportChunk, (import_id, number), with_for_update=True)
    if chunk is None:
        return "unknown chunk"
    if chunk.done:
        return "done already"
    imported = session.get(Import, import_id)
    assert imported is not None
    rows = import_files.read_rows(imports.read_stored(ctx, chunk.rows_sha256))
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
        copy_rows(session, "import_issues", ISSUE_COLUMNS, tally.issues)
    chunk.done, chunk.done_at = True, utcnow()
    return _count(session, imported, tally)


@dataclass(frozen=True)
class Holder:
    """A document's learner and account, as a chunk needs them."""

    learner_id: int
    name: str
    account_id: int
    status: AccountStatus
    number: str | None


RECORD_COLUMNS = (
    "import_id", "row", "learner_id", "account_id", "record_key", "organiser", "programme",
    "hours", "start_date", "end_date", "certificate_number", "status",
)  # fmt: skip
LEARNER_COLUMNS = (
    "document_type", "document_enc", "document_hash", "document_mask", "name", "gender",
    "birth_date", "phone_enc", "phone_hash", "phone_mask", "unit_code", "unit_path",
    "created_by",
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
    holders = _accounts(session, ctx, imported, records, hashes, tally)
    rows: list[tuple[Any, ...]] = []
    for record in records:
        holder = holders[hashes[record.row]]
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


def _staged(session: Session, table: str, name: str, columns: tuple[str, ...]) -> None:
    """An empty temporary copy of ``table``'s ``columns``, gone at commit: where COPY lands
    rows that an INSERT ... SELECT then takes with ON CONFLICT."""
    session.execute(
        text(
            f"CREATE TEMP TABLE IF NOT EXISTS {name} ON COMMIT DROP AS "  # noqa: S608
            f"SELECT {', '.join(columns)} FROM {table} WITH NO DATA"
        )
    )


def _insert_records(session: Session, rows: list[tuple[Any, ...]]) -> set[int]:
    """Take the records no one holds yet (the file's earlier row first); return their rows.
    Inserted in key order, as every chunk does, so two chunks taking the same keys wait for
    each other in one order and never deadlock."""
    if not rows:
        return set()
    _staged(session, "import_records", "staged_records", RECORD_COLUMNS)
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
                ImportRecord.record_key == any_(_strings([r[4] for r in held])),
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


def _strings(values: Any) -> Any:
    # One array parameter, not one parameter per value: a chunk names thousands.
    return bindparam(None, list(values), type_=ARRAY(String))


def _mismatch(record: RowRecord, holder: Holder) -> Issue | None:
    if holder.name != record.name:
        masked = mask_account_number(holder.number or "")
        return Issue("name", record.name, f"not the name on learning account {masked}")
    if holder.status == AccountStatus.PENDING:
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
) -> dict[str, Holder]:
    """Each document's learner and open account: matched by document, or opened now."""
    wanted = set(hashes.values())
    found = _by_hash(session, wanted)
    new: dict[str, RowRecord] = {}
    for record in records:
        if hashes[record.row] not in found:
            new.setdefault(hashes[record.row], record)
    if new:
        opened = _open(session, ctx, imported, new)
        tally.accounts_opened += len(opened)
        found.update(opened)
        if len(opened) < len(new):  # some opened by another chunk at this moment: theirs
            found.update(_by_hash(session, set(new) - set(opened)))
    closed = [h.account_id for h in found.values() if h.status == AccountStatus.CLOSED]
    if closed:  # an opening refused earlier: the import opens the account this time
        tally.accounts_opened += _reopen(session, imported, closed)
        found.update(_by_hash(session, {h for h, v in found.items() if v.account_id in closed}))
    return found


def _by_hash(session: Session, hashes: set[str]) -> dict[str, Holder]:
    if not hashes:
        return {}
    rows = session.execute(
        select(
            Learner.document_hash,
            Learner.id,
            Learner.name,
            Account.id,
            Account.status,
            Account.number,
        )
        .join(Account, Account.learner_id == Learner.id)
        .where(Learner.document_hash == any_(_strings(hashes)))
    )
    return {row[0]: Holder(*row[1:]) for row in rows}


# A new account's number, in the form an approved opening gets (decisions._account_number).
ACCOUNT_NUMBER = "'ZJ' || :year || lpad(nextval('account_number_seq')::text, 8, '0')"


def _open(
    session: Session, ctx: IntakeContext, imported: Import, new: dict[str, RowRecord]
) -> dict[str, Holder]:
    """Learners and open accounts for documents the bank has not seen; return those opened.
    A document another chunk opened at this moment is left to it (the unique hash decides,
    and that chunk's transaction opens its account)."""
    cipher = ctx.cipher
    _staged(session, "learners", "staged_learners", LEARNER_COLUMNS)
    copy_rows(
        session,
        "staged_learners",
        LEARNER_COLUMNS,
        (
            (
                r.identity.document_type.value,
                cipher.encrypt(r.identity.number, "learner.document_number"),
                doc_hash,
                mask_document_number(r.identity.number),
                r.name,
                r.identity.gender,
                r.identity.birth_date,
                cipher.encrypt(r.phone, "learner.phone"),
                cipher.lookup_hash("phone", r.phone),
                mask_phone(r.phone),
                imported.unit_code,
                imported.unit_path,
                imported.uploaded_by_id,
            )
            for doc_hash, r in new.items()
        ),
    )
    columns = ", ".join(LEARNER_COLUMNS)
    opened = session.execute(
        text(
            f"WITH created AS (INSERT INTO learners ({columns}) SELECT {columns} "  # noqa: S608
            "FROM staged_learners ORDER BY document_hash "  # one lock order for every chunk
            "ON CONFLICT (document_hash) DO NOTHING "
            "RETURNING id, document_hash, name), "
            "opened AS (INSERT INTO accounts (learner_id, number, status, unit_code, unit_path, "
            "opened_at, opened_by_import_id) "
            f"SELECT id, {ACCOUNT_NUMBER}, 'open', :unit_code, :unit_path, now(), :import_id "
            "FROM created RETURNING id, learner_id, number) "
            "SELECT c.document_hash, c.id, c.name, o.id, o.number "
            "FROM created c JOIN opened o ON o.learner_id = c.id"
        ),
        {
            "year": str(datetime.now(UTC).year),
            "unit_code": imported.unit_code,
            "unit_path": imported.unit_path,
            "import_id": imported.id,
        },
    ).all()
    return {
        doc_hash: Holder(learner_id, name, account_id, AccountStatus.OPEN, number)
        for doc_hash, learner_id, name, account_id, number in opened
    }


def _reopen(session: Session, imported: Import, account_ids: list[int]) -> int:
    result = session.execute(
        text(
            f"UPDATE accounts SET status = 'open', number = {ACCOUNT_NUMBER}, "  # noqa: S608
            "opened_at = now(), opened_by_import_id = :import_id "
            "WHERE id = ANY(:ids) AND status = 'closed'"
        ),
        {"year": str(datetime.now(UTC).year), "import_id": imported.id, "ids": account_ids},
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


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
