"""The one way into the ledger: an entry and its key written in one statement.

``ledger_entries`` is partitioned by China-time year of ``posted_at``, so a unique key there
must include ``posted_at`` and could not say "once" across years. The "once" lives in the
unpartitioned ``ledger_keys`` (a unique key per application and entry kind, and per import
record): each statement here inserts the key rows first (``ON CONFLICT DO NOTHING``) and
then, in the same statement, an entry for each key row that went in, with the key's id and
``posted_at``. A key that was already there (posted before, or by a racing transaction,
which the unique index makes this one wait for) inserts nothing and so posts nothing.

Every place that posts goes through here: a decision's deposit and a conversion (once per
application and kind), an import batch's records (once per record), and the reversals
(which, as before, fail on a second one rather than pass it by: their callers check first,
under the application's lock).
"""

from __future__ import annotations

import typing
import uuid
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, Table, bindparam, cast, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from services.intake.models import EntryKind, LedgerEntry, LedgerKey

# The tables, not the mapped classes: the statements below are Core, executed with a
# parameter dict (an ORM-enabled INSERT would take that for a bulk insert of its own).
KEYS, ENTRIES = typing.cast(Table, LedgerKey.__table__), typing.cast(Table, LedgerEntry.__table__)
KEY_COLUMNS = ("entry_kind", "application_id", "import_record_id")
ENTRY_COLUMNS = (
    "account_id",
    "unit_path",
    "outcome_kind",
    "credits",
    "hours",
    "description",
    "target_institution",
    "target_programme",
    "basis",
)


@dataclass(frozen=True)
class Posting:
    """One entry to post: an application's (``application_id``) or an import record's
    (``import_record_id``), never both. ``posted_at`` None is the transaction's time."""

    account_id: int
    entry_kind: EntryKind
    unit_path: str
    outcome_kind: str
    description: str
    application_id: uuid.UUID | None = None
    import_record_id: int | None = None
    credits: Decimal = Decimal(0)
    hours: Decimal = Decimal(0)
    target_institution: str | None = None
    target_programme: str | None = None
    basis: dict[str, Any] | None = None
    posted_at: datetime | None = None


def _param(column: Any) -> Any:
    """A bound parameter named and typed as ``column``, cast so that PostgreSQL need not
    guess its type (in INSERT ... SELECT an untyped NULL would be text)."""
    return cast(bindparam(column.name, type_=column.type), column.type)


def _one(once: bool) -> Any:
    """The statement posting one entry: its key (``ON CONFLICT DO NOTHING`` when ``once``),
    then the entry with the key's id and time, for a key that went in. Built once: a
    posting binds its values only."""
    keys, entries = KEYS.c, ENTRIES.c
    at = func.coalesce(_param(keys.posted_at), func.now())
    key = pg_insert(KEYS).values(**{c: _param(keys[c]) for c in KEY_COLUMNS}, posted_at=at)
    if once:
        key = key.on_conflict_do_nothing()
    new = key.returning(*(keys[c] for c in ("entry_id", "posted_at", *KEY_COLUMNS))).cte("key")
    return (
        pg_insert(ENTRIES)
        .from_select(
            ["id", "posted_at", *KEY_COLUMNS, *ENTRY_COLUMNS],
            select(
                new.c.entry_id,
                new.c.posted_at,
                *(new.c[c] for c in KEY_COLUMNS),
                *(_param(entries[c]) for c in ENTRY_COLUMNS),
            ),
        )
        .returning(entries.id)
    )


POST_ONCE, POST = _one(once=True), _one(once=False)


def post(session: Session, posting: Posting, *, once: bool = True) -> int | None:
    """Post one entry; its id, or None when its key was already posted (``once``: nothing
    happens, as ``ON CONFLICT DO NOTHING``). With ``once=False`` a key already posted is an
    ``IntegrityError``, as an insert of a second reversal always was."""
    values = {f.name: getattr(posting, f.name) for f in fields(Posting)}
    return session.execute(POST_ONCE if once else POST, values).scalar_one_or_none()


def reverse(session: Session, original: LedgerEntry, reason: str) -> LedgerEntry:
    """The reversal of ``original`` (an application's deposit or conversion): its credits and
    hours taken back, at the same point and account, for the same target, saying what it
    reverses and why; a second reversal is an ``IntegrityError`` (its callers check first,
    under the application's lock)."""
    assert original.application_id is not None
    entry_id = post(
        session,
        Posting(
            account_id=original.account_id,
            entry_kind=EntryKind.REVERSAL,
            application_id=original.application_id,
            unit_path=original.unit_path,
            outcome_kind=original.outcome_kind,
            credits=0 - original.credits,  # 0 - 0 is 0, where -0 would read "-0.00"
            hours=0 - original.hours,
            description=f"冲销：{original.description}"[:200],
            target_institution=original.target_institution,
            target_programme=original.target_programme,
            basis={"reverses": original.id, "reason": reason},
        ),
        once=False,
    )
    assert entry_id is not None
    return entry(session, entry_id)


# An import's pending records, each posted once, in the file's row order (so are their ids,
# and two transactions posting the same batch take its keys in one order): its key first,
# then its entry, which finds its record through the key by the record's primary key
# (LATERAL ... OFFSET 0, a subquery the planner keeps as it is). Joining the inserted keys
# back to their records as one join of two CTEs instead let the planner misjudge the keys'
# count and nest-loop a batch of 10,000 records over the whole batch for each key (15 s).
POST_RECORDS = text("""
WITH key AS (
  INSERT INTO ledger_keys (entry_kind, import_record_id, posted_at)
  SELECT 'import', r.id, now() FROM import_records r
  WHERE r.import_id = :import_id AND r.status = 'pending'
  ORDER BY r.row
  ON CONFLICT DO NOTHING
  RETURNING entry_id, import_record_id, posted_at
)
INSERT INTO ledger_entries (id, posted_at, entry_kind, import_record_id, account_id, unit_path,
    outcome_kind, credits, hours, description)
SELECT key.entry_id, key.posted_at, 'import', r.id, r.account_id, :unit_path,
    'social_training', 0, r.hours, r.programme
FROM key CROSS JOIN LATERAL (
  SELECT r.id, r.account_id, r.hours, r.programme FROM import_records r
  WHERE r.id = key.import_record_id OFFSET 0
) r
""")


def post_records(session: Session, import_id: uuid.UUID, unit_path: str) -> int:
    """Post every pending record of import ``import_id`` under the point ``unit_path``
    (social training, its hours, its programme as description), each once: how many were
    posted now."""
    result = session.execute(POST_RECORDS, {"import_id": import_id, "unit_path": unit_path})
    return int(result.rowcount)  # type: ignore[attr-defined]


def entry(session: Session, entry_id: int) -> LedgerEntry:
    """The entry of id ``entry_id`` (found by its key's ``posted_at`` in its partition)."""
    return session.scalars(
        select(LedgerEntry)
        .join(LedgerKey, LedgerKey.posted_at == LedgerEntry.posted_at)
        .where(LedgerKey.entry_id == entry_id, LedgerEntry.id == entry_id)
    ).one()


def of_application(application_id: uuid.UUID, *kinds: EntryKind) -> Select[Any]:
    """The entries posted for ``application_id`` (of ``kinds``, or all), by their keys."""
    query = (
        select(LedgerEntry)
        .join(
            LedgerKey,
            (LedgerKey.entry_id == LedgerEntry.id) & (LedgerKey.posted_at == LedgerEntry.posted_at),
        )
        .where(LedgerKey.application_id == application_id)
    )
    if kinds:
        query = query.where(LedgerKey.entry_kind.in_(kinds))
    return query.order_by(LedgerEntry.id)
