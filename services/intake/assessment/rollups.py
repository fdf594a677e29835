"""The ledger's figures for a range of China-time days, summed from its roll-ups
(``ledger_months`` for the whole calendar months inside the range, ``ledger_days`` for the
days at either end) instead of read entry by entry.

Exact by construction: the trigger adds every entry to the day and the month its
``posted_at`` falls in, in China time, in the entry's own transaction; a range of whole days
is the union of its whole months and its remaining days, each counted once; and the day of
an instant t is d exactly when d 00:00 <= t < d + 1 00:00 in China time, which is the range
the raw count reads (``figures.utc_bounds``). A year costs twelve rows per point and kind
whatever the number of entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import BigInteger, Select, and_, cast, func, or_, select, union_all

from services.intake.models import OUTCOME_ENTRIES, LedgerDay, LedgerMonth


@dataclass(frozen=True)
class Periods:
    """A range of days as whole months (first days of the first and last, or None) and the
    day ranges (inclusive) left over at its ends."""

    months: tuple[date, date] | None
    days: tuple[tuple[date, date], ...]


def _month_after(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def periods(first: date, last: date) -> Periods:
    """``first``..``last`` (inclusive) split into whole calendar months and leftover days."""
    month_from = first if first.day == 1 else _month_after(first)
    after = last + timedelta(days=1)
    month_end = after.replace(day=1)  # the whole months end before this day
    if month_from >= month_end:
        return Periods(None, ((first, last),))
    last_month = (month_end - timedelta(days=1)).replace(day=1)
    edges = ((first, month_from - timedelta(days=1)), (month_end, last))
    return Periods((month_from, last_month), tuple((a, b) for a, b in edges if a <= b))


def ledger_totals(path: str, first: date, last: date) -> Any:
    """(unit_path, outcome_kind, entries, hours) of the deposits (an application's or an
    import record's, not conversions or reversals) posted at or below ``path`` in the range:
    a subquery, one row per roll-up row read."""
    split = periods(first, last)
    parts: list[Select[Any]] = []
    if split.months is not None:
        parts.append(_totals(LedgerMonth, path).where(LedgerMonth.month.between(*split.months)))
    if split.days:
        parts.append(
            _totals(LedgerDay, path).where(
                or_(*(LedgerDay.day.between(a, b) for a, b in split.days))
            )
        )
    return union_all(*parts).subquery() if len(parts) > 1 else parts[0].subquery()


def _totals(table: Any, path: str) -> Select[Any]:
    return select(table.unit_path, table.outcome_kind, table.entries, table.hours).where(
        and_(table.unit_path.like(f"{path}%"), table.entry_kind.in_(OUTCOME_ENTRIES))
    )


def summed(column: Any) -> Any:
    """A roll-up count summed back to an integer (sum of bigint is numeric)."""
    return cast(func.sum(column), BigInteger)
