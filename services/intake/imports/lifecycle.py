"""Bulk imports of social-training records: a file received, read in chunks on the
``intake.imports`` queue, and handed to review as one batch.

The steps, each one committed transaction that leaves the message for the next:
1. ``receive`` (the HTTP request) checks the file as a whole, stores it and queues
   ``intake.prepare_import``; the same file from the same point is the same import.
2. ``prepare`` reads the rows once (an XLSX workbook becomes a UTF-8 rows file), flags rows
   that repeat an earlier row of the file, and splits the rest into chunks, one message each.
3. ``read_chunk`` (``services.intake.import_chunks``) checks, opens accounts and takes the
   records of one chunk; the chunk is marked done in the same transaction, so a chunk redone
   after a crash or a lost message changes nothing. The last chunk takes the batch
   application, which enters review like any other.
``resume`` (beat) re-sends what a lost message left undone.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from services.intake.context import IntakeContext
from services.intake.imports import files
from services.intake.imports.rows import dedupe_key
from services.intake.models import (
    Import,
    ImportChunk,
    ImportIssue,
    ImportStatus,
    Outbox,
)
from services.intake.scope import require_window_staff
from shared import evidence, outbox
from shared.auth import Principal
from shared.db import utcnow
from shared.errors import NotFound, Problem

QUEUE = "intake.imports"
DUPLICATE, INVALID = "duplicate", "invalid"
WHOLE_ROW = ""  # the column of an issue about the whole row (a duplicate)


def store_root(ctx: IntakeContext) -> Path:
    return Path(ctx.settings.imports_dir or Path(ctx.settings.var_dir) / "imports")


FILE_CONTEXT = "intake.import_file"


def _store(ctx: IntakeContext, data: bytes) -> str:
    """Keep ``data`` under its SHA-256, encrypted (the files hold ID and phone numbers);
    written atomically."""
    sha = hashlib.sha256(data).hexdigest()
    _put(ctx, sha, data)
    return sha


def _put(ctx: IntakeContext, sha: str, data: bytes) -> None:
    target = evidence.path_of(store_root(ctx), sha)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
            tmp.write(ctx.cipher.encrypt_bytes(data, FILE_CONTEXT))
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp.name, target)


def read_stored(ctx: IntakeContext, sha: str) -> bytes:
    blob = evidence.path_of(store_root(ctx), sha).read_bytes()
    return ctx.cipher.decrypt_bytes(blob, FILE_CONTEXT)


def receive(
    session: Session, ctx: IntakeContext, principal: Principal, filename: str, data: bytes
) -> tuple[Import, bool]:
    """Take a file of records from an operating point's window; return the import and whether
    it is new. The file is refused as a whole (one error naming ``file``) before any row is
    taken when it is not CSV/XLSX, not UTF-8/GBK, over the limits, or not the template."""
    require_window_staff(principal)
    limit = ctx.settings.max_import_bytes
    if len(data) > limit:
        raise files.refuse(
            files.FileTooLarge,
            f"a file may be at most {limit // (1024 * 1024)} MB",
            f"{len(data):,} bytes; at most {limit:,}",
        )
    sha = hashlib.sha256(data).hexdigest()
    same = _same_file(session, principal.unit_code, sha)
    if same is not None:
        return same, False
    checked = files.check_file(data, ctx.settings.max_import_rows)
    _put(ctx, sha, data)  # hashed above already: 20 MB are not hashed twice
    rows_sha = _store(ctx, files.rows_file(checked.rows)) if checked.rows else None
    inserted = session.execute(
        pg_insert(Import)
        .values(
            id=uuid.uuid4(),
            unit_code=principal.unit_code,
            unit_path=principal.unit_path,
            uploaded_by_id=principal.staff_id,
            uploaded_by=principal.username,
            file_sha256=sha,
            filename=(filename or "upload")[:200],
            file_format=checked.file_format,
            encoding=checked.encoding,
            size=len(data),
            rows_sha256=rows_sha,
            rows_total=checked.rows_total,
            chunk_size=ctx.settings.import_chunk_rows,
            status=ImportStatus.RECEIVED,
        )
        .on_conflict_do_nothing(constraint="uq_import_file")
        .returning(Import.id)
    ).first()
    if inserted is None:  # the same file, sent from another window at this moment
        same = _same_file(session, principal.unit_code, sha)
        assert same is not None
        return same, False
    outbox.enqueue(
        session, Outbox, "intake.prepare_import", {"import_id": str(inserted[0])}, queue=QUEUE
    )
    imported = session.get_one(Import, inserted[0])
    return imported, True


def _same_file(session: Session, unit_code: str, sha: str) -> Import | None:
    return session.scalar(
        select(Import).where(Import.unit_code == unit_code, Import.file_sha256 == sha)
    )


def prepare(session: Session, ctx: IntakeContext, import_id: uuid.UUID) -> str:
    """Read the rows once: flag in-file duplicates, write the chunks and queue each one."""
    imported = session.get(Import, import_id, with_for_update=True)
    if imported is None:
        return "unknown"
    if imported.status != ImportStatus.RECEIVED:
        return "prepared already"
    if imported.rows_sha256 is None:
        try:
            rows = files.xlsx_rows(
                read_stored(ctx, imported.file_sha256), ctx.settings.max_import_rows
            )
        except Problem as problem:  # more rows than the workbook declared, and too many
            _refuse(session, imported, problem)
            return "refused"
        imported.rows_sha256 = _store(ctx, files.rows_file(rows))
        imported.rows_total = len(rows)
    else:
        rows = files.read_rows(read_stored(ctx, imported.rows_sha256))
    _flag_repeats(session, imported, rows)
    size = imported.chunk_size
    for index, start in enumerate(range(0, len(rows), size)):
        part = rows[start : start + size]
        session.add(
            ImportChunk(
                import_id=imported.id,
                number=index,
                first_row=int(part[0][0]),
                last_row=int(part[-1][0]),
                rows_sha256=_store(ctx, files.rows_file(part)),
            )
        )
        send_chunk(session, imported.id, index)
    imported.status = ImportStatus.PROCESSING
    return f"{len(rows)} rows in {-(-len(rows) // size)} chunks"


def _refuse(session: Session, imported: Import, problem: Problem) -> None:
    """The file turned out, when read, to break a rule checked at upload: no row is taken,
    and the reason is the import's one issue (row 1, the whole file)."""
    reason = "; ".join(e.reason for e in problem.errors) or problem.detail
    session.add(
        ImportIssue(
            import_id=imported.id,
            row=1,
            column="file",
            kind=INVALID,
            value=None,
            reason=reason[:300],
        )
    )
    imported.status, imported.ready_at = ImportStatus.REFUSED, utcnow()


def _flag_repeats(session: Session, imported: Import, rows: list[list[str]]) -> None:
    """A row that repeats an earlier row's document and training is a duplicate of it."""
    first_seen: dict[tuple[str, ...], int] = {}
    repeats = []
    for row in rows:
        key = dedupe_key(row)
        number = int(row[0])
        if not key[0]:  # no document: the row is invalid, not a repeat
            continue
        if key in first_seen:
            repeats.append(
                {
                    "import_id": imported.id,
                    "row": number,
                    "column": WHOLE_ROW,
                    "kind": DUPLICATE,
                    "value": None,
                    "reason": f"repeats row {first_seen[key]} of this file",
                }
            )
        else:
            first_seen[key] = number
    if repeats:
        session.execute(pg_insert(ImportIssue).on_conflict_do_nothing(), repeats)


def send_chunk(session: Session, import_id: uuid.UUID, number: int) -> None:
    outbox.enqueue(
        session,
        Outbox,
        "intake.read_import_chunk",
        {"import_id": str(import_id), "chunk": number},
        queue=QUEUE,
    )


def resume(session: Session, stalled_for: timedelta) -> int:
    """Re-send the next step of every import that has not moved for ``stalled_for``: its
    preparation, or each chunk not yet done (a chunk done twice changes nothing)."""
    cutoff = utcnow() - stalled_for
    sent = 0
    stalled = session.scalars(
        select(Import).where(
            Import.status.in_([ImportStatus.RECEIVED, ImportStatus.PROCESSING]),
            Import.updated_at < cutoff,
        )
    ).all()
    for imported in stalled:
        imported.updated_at = utcnow()  # waits another grace period before the next resend
        if imported.status == ImportStatus.RECEIVED:
            outbox.enqueue(
                session,
                Outbox,
                "intake.prepare_import",
                {"import_id": str(imported.id)},
                queue=QUEUE,
            )
            sent += 1
            continue
        for number in session.scalars(
            select(ImportChunk.number).where(
                ImportChunk.import_id == imported.id, ImportChunk.done.is_(False)
            )
        ):
            send_chunk(session, imported.id, number)
            sent += 1
    return sent


def visible(session: Session, principal: Principal, import_id: uuid.UUID) -> Import:
    """An import of the caller's subtree (the point, and the units above it); 404 otherwise."""
    imported = session.get(Import, import_id)
    if imported is None or not principal.covers(imported.unit_path):
        raise NotFound(f"import {import_id} not found")
    return imported


def issues_query(import_id: uuid.UUID, kind: str | None) -> Select[Any]:
    query = select(ImportIssue).where(ImportIssue.import_id == import_id)
    if kind:
        query = query.where(ImportIssue.kind == kind)
    return query.order_by(ImportIssue.row, ImportIssue.column)
