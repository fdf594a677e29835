"""The learning account's balances and its ledger (reached through ``serving.reach``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from services.intake.conversion.models import Reservation, ReservationStatus
from services.intake.models import OUTCOME_ENTRIES, Account, EntryKind, LedgerEntry, LedgerKey

CONVERTED = "conversion"  # the outcome kind of a conversion's entries (and their reversals)


def reversed_applications(session: Session, entries: Iterable[LedgerEntry]) -> set[uuid.UUID]:
    """Of the applications behind ``entries``, those whose posting has been reversed."""
    ids = {e.application_id for e in entries if e.application_id is not None}
    if not ids:
        return set()
    found = session.scalars(
        select(LedgerKey.application_id).where(
            LedgerKey.application_id.in_(ids), LedgerKey.entry_kind == EntryKind.REVERSAL
        )
    )
    return {i for i in found if i is not None}


def balances(session: Session, account: Account) -> list[dict[str, Any]]:
    """Deposited credits, hours and count of postings by outcome kind, derived from the
    ledger (deposits and imports, less what was reversed of them; a conversion does not add
    to them: it converts them)."""
    rows = session.execute(
        select(
            LedgerEntry.outcome_kind,
            func.sum(LedgerEntry.credits),
            func.sum(LedgerEntry.hours),
            func.count().filter(LedgerEntry.entry_kind.in_(OUTCOME_ENTRIES)),
        )
        .where(
            LedgerEntry.account_id == account.id,
            LedgerEntry.outcome_kind != CONVERTED,
            LedgerEntry.entry_kind.in_((*OUTCOME_ENTRIES, EntryKind.REVERSAL)),
        )
        .group_by(LedgerEntry.outcome_kind)
        .order_by(LedgerEntry.outcome_kind)
    ).all()
    return [{"outcome_kind": k, "credits": c, "hours": h, "entries": n} for k, c, h, n in rows]


def converted(session: Session, account: Account) -> list[dict[str, Any]]:
    """Converted credits by target institution and programme, reversals subtracted."""
    rows = session.execute(
        select(
            LedgerEntry.target_institution,
            LedgerEntry.target_programme,
            func.sum(LedgerEntry.credits),
            func.count().filter(LedgerEntry.entry_kind == EntryKind.CONVERSION),
        )
        .where(
            LedgerEntry.account_id == account.id,
            LedgerEntry.outcome_kind == CONVERTED,
        )
        .group_by(LedgerEntry.target_institution, LedgerEntry.target_programme)
        .order_by(LedgerEntry.target_institution, LedgerEntry.target_programme)
    ).all()
    return [
        {"target_institution": i, "target_programme": p, "credits": c, "entries": n}
        for i, p, c, n in rows
    ]


def mark_held(session: Session, entries: list[LedgerEntry]) -> None:
    """Set ``held_by`` on each entry a conversion holds (reserved, consumed or reversed)."""
    held = session.scalars(
        select(Reservation).where(
            Reservation.ledger_entry_id.in_([e.id for e in entries]),
            Reservation.status != ReservationStatus.RELEASED,
        )
    )
    by_entry = {r.ledger_entry_id: r for r in held}
    for entry in entries:
        found = by_entry.get(entry.id)
        entry.held_by = (  # type: ignore[attr-defined]
            {"application_id": found.application_id, "status": found.status.value}
            if found
            else None
        )


def ledger_query(account: Account) -> Select[Any]:
    return select(LedgerEntry).where(LedgerEntry.account_id == account.id).order_by(LedgerEntry.id)
