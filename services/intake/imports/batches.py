"""An import's batch: taken into review when every row is accounted for; after review, rows
rejected at a level, and the batch's end: its remaining records posted to their learners'
ledgers, or all of them refused (or withdrawn by the point)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from services.intake import handoff, posting
from services.intake.models import (
    Application,
    ApplicationKind,
    Import,
    ImportRecord,
    ImportStatus,
    Learner,
    RecordStatus,
)
from shared import messages
from shared.auth import Principal
from shared.db import utcnow

SAMPLE_ROWS = 20


def _import_of(session: Session, application: Application) -> Import:
    return session.scalars(
        select(Import).where(Import.application_id == application.id).with_for_update()
    ).one()


def reject_rows(
    session: Session, application: Application, level: str, rows: list[messages.RejectedRow]
) -> None:
    """Refuse the chosen records of the batch, each with its reason; the rest go on. One
    statement, executed for every row at once (a decision may name thousands)."""
    imported = _import_of(session, application)
    session.connection().execute(
        update(ImportRecord)
        .where(
            ImportRecord.import_id == imported.id,
            ImportRecord.row == bindparam("chosen"),
            ImportRecord.status == RecordStatus.PENDING,
        )
        .values(
            status=RecordStatus.REJECTED,
            rejected_level=level,
            rejected_reason=bindparam("why"),
        ),
        [{"chosen": row["row"], "why": row["reason"]} for row in rows],
    )


def withdraw(session: Session, application: Application, reason: str) -> None:
    """The point withdrew its batch: no record is posted, and each may come again."""
    imported = _import_of(session, application)
    session.execute(
        update(ImportRecord)
        .where(ImportRecord.import_id == imported.id, ImportRecord.status == RecordStatus.PENDING)
        .values(
            status=RecordStatus.REJECTED,
            rejected_level=None,
            rejected_reason=f"withdrawn: {reason}"[:500],
        )
    )
    imported.status = ImportStatus.WITHDRAWN


def finish(
    session: Session, application: Application, outcome: str, level: str, reason: str | None
) -> None:
    """The batch's final decision: approved posts every record still pending, once each
    (a key per record); rejected refuses them all with the batch's reason."""
    imported = _import_of(session, application)
    pending = (ImportRecord.import_id == imported.id) & (
        ImportRecord.status == RecordStatus.PENDING
    )
    if outcome == "approved":
        posting.post_records(session, imported.id, imported.unit_path)
        session.execute(update(ImportRecord).where(pending).values(status=RecordStatus.APPROVED))
        imported.status = ImportStatus.APPROVED
    else:
        session.execute(
            update(ImportRecord)
            .where(pending)
            .values(status=RecordStatus.REJECTED, rejected_level=level, rejected_reason=reason)
        )
        imported.status = ImportStatus.REJECTED


def take(session: Session, imported: Import) -> None:
    """Every row of the import is accounted for: its records become one batch application
    in review, or, with none, the import ends with nothing to review."""
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
    application = handoff.take(
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
    span and its records' row numbers. No learner is named (see ``samples``)."""
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
    }


def spread(numbers: list[int], count: int) -> list[int]:
    """``count`` of ``numbers`` (all of them when there are fewer) evenly spaced from the
    first to the last: a stride of ``len // count`` would take only the head of a file of
    fewer than twice ``count`` records."""
    if len(numbers) <= count:
        return numbers
    last = len(numbers) - 1
    return [numbers[i * last // (count - 1)] for i in range(count)]


def samples(session: Session, imported: Import) -> list[dict[str, Any]]:
    """``SAMPLE_ROWS`` records spread evenly over the file, for a reviewer to check against
    the training organisation's own list: the learner masked (name and document)."""
    numbers = list(
        session.scalars(
            select(ImportRecord.row)
            .where(ImportRecord.import_id == imported.id)
            .order_by(ImportRecord.row)
        )
    )
    picked = spread(numbers, SAMPLE_ROWS)
    rows = session.execute(
        select(ImportRecord, Learner.name_mask, Learner.document_mask)
        .join(Learner, Learner.id == ImportRecord.learner_id)
        .where(ImportRecord.import_id == imported.id, ImportRecord.row.in_(picked))
        .order_by(ImportRecord.row)
    ).all()
    return [
        {
            "row": record.row,
            "name": name_mask,
            "document_number": document_mask,
            "organiser": record.organiser,
            "programme": record.programme,
            "hours": record.hours,
            "start_date": record.start_date,
            "end_date": record.end_date,
            "certificate_number": record.certificate_number,
            "status": record.status.value,
        }
        for record, name_mask, document_mask in rows
    ]


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None
