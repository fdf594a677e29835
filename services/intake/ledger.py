"""The learning account's balances and its ledger (reached through ``serving.reach``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from services.intake.models import Account, LedgerEntry


def balances(session: Session, account: Account) -> list[dict[str, Any]]:
    """Credits, hours and count of postings by outcome kind, derived from the ledger."""
    rows = session.execute(
        select(
            LedgerEntry.outcome_kind,
            func.sum(LedgerEntry.credits),
            func.sum(LedgerEntry.hours),
            func.count(),
        )
        .where(LedgerEntry.account_id == account.id)
        .group_by(LedgerEntry.outcome_kind)
        .order_by(LedgerEntry.outcome_kind)
    ).all()
    return [{"outcome_kind": k, "credits": c, "hours": h, "entries": n} for k, c, h, n in rows]


def ledger_query(account: Account) -> Select[Any]:
    return select(LedgerEntry).where(LedgerEntry.account_id == account.id).order_by(LedgerEntry.id)
