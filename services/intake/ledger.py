"""The learning account as staff read it: its learner (masked), balances, the ledger."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from services.intake.models import Account, Learner, LedgerEntry
from shared.auth import Principal
from shared.errors import NotFound


def get_account(session: Session, principal: Principal, number: str) -> tuple[Account, Learner]:
    row = session.execute(
        select(Account, Learner)
        .join(Learner, Learner.id == Account.learner_id)
        .where(Account.number == number)
    ).first()
    if row is None or not row[0].unit_path.startswith(principal.unit_path):
        raise NotFound(f"learning account {number} not found")
    return row[0], row[1]


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
