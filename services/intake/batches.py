"""An import's batch after review: rows rejected at a level, and the batch's end: its
remaining records posted to their learners' ledgers, or all of them refused."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, String, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from services.intake.models import (
    Application,
    Import,
    ImportRecord,
    ImportStatus,
    LedgerEntry,
    RecordStatus,
)


def _import_of(session: Session, application: Application) -> Import:
    imported = session.scalar(
        select(Import).where(Import.application_id == application.id).with_for_update()
    )
    assert imported is not None, f"application {application.id} is no import's batch"
    return imported


def reject_rows(
    session: Session, application: Application, level: str, rows: list[dict[str, Any]]
) -> int:
    """Refuse the chosen records of the batch, each with its reason; the rest go on."""
    imported = _import_of(session, application)
    refused = 0
    for row in rows:
        result = session.execute(
            update(ImportRecord)
            .where(
                ImportRecord.import_id == imported.id,
                ImportRecord.row == row["row"],
                ImportRecord.status == RecordStatus.PENDING,
            )
            .values(
                status=RecordStatus.REJECTED, rejected_level=level, rejected_reason=row["reason"]
            )
        )
        refused += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return refused


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
    (unique per record); rejected refuses them all with the batch's reason."""
    imported = _import_of(session, application)
    pending = (ImportRecord.import_id == imported.id) & (
        ImportRecord.status == RecordStatus.PENDING
    )
    if outcome == "approved":
        session.execute(
            pg_insert(LedgerEntry)
            .from_select(
                [
                    "account_id",
                    "import_record_id",
                    "unit_path",
                    "outcome_kind",
                    "credits",
                    "hours",
                    "description",
                ],
                select(
                    ImportRecord.account_id,
                    ImportRecord.id,
                    literal(imported.unit_path, String),
                    literal("social_training", String),
                    literal(0, Integer),
                    ImportRecord.hours,
                    ImportRecord.programme,
                ).where(pending),
            )
            .on_conflict_do_nothing(index_elements=["import_record_id"])
        )
        session.execute(update(ImportRecord).where(pending).values(status=RecordStatus.APPROVED))
        imported.status = ImportStatus.APPROVED
    else:
        session.execute(
            update(ImportRecord)
            .where(pending)
            .values(status=RecordStatus.REJECTED, rejected_level=level, rejected_reason=reason)
        )
        imported.status = ImportStatus.REJECTED
