"""The caps a standard's version declares, which every conversion must respect, counted per
learner over what is reserved (in review) or consumed (approved):

- ``per_year``: credits converted in one year, the year starting on ``year_starts`` (MM-DD,
  e.g. 03-01 for an academic year), by the date the conversion was applied for;
- ``per_outcome``: credits from one outcome;
- ``per_institution`` / ``per_programme``: credits toward one target institution or programme;
- ``certificates``: how many certificates may count toward one programme.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.intake.conversion.models import Reservation, ReservationStatus
from services.intake.conversion.rules import shown

KINDS = ("per_year", "per_outcome", "per_institution", "per_programme", "certificates")
COUNTING = (ReservationStatus.RESERVED, ReservationStatus.CONSUMED)


@dataclass(frozen=True)
class Asked:
    """What one conversion asks: each outcome's credits and whether it is a certificate."""

    learner_id: int
    applied_on: date
    institution: str
    programme: str
    outcomes: tuple[tuple[Decimal, bool], ...]

    @property
    def credits(self) -> Decimal:
        return sum((c for c, _ in self.outcomes), Decimal(0))


def year_start(day: date, starts: str) -> date:
    """The first day of the cap's year holding ``day`` (a year starting on MM-DD)."""
    month, first = (int(part) for part in starts.split("-"))
    start = date(day.year, month, first)
    return start if start <= day else date(day.year - 1, month, first)


def _used(session: Session, asked: Asked, *where: Any, count: bool = False) -> Decimal:
    measure = func.count() if count else func.coalesce(func.sum(Reservation.credits), 0)
    found = session.scalar(
        select(measure).where(
            Reservation.learner_id == asked.learner_id,
            Reservation.status.in_(COUNTING),
            *where,
        )
    )
    return Decimal(str(found or 0))


def status(session: Session, caps: list[dict[str, Any]], asked: Asked) -> list[dict[str, Any]]:
    """Each cap: its limit, what the learner has already used toward it, what this
    conversion asks, and whether it would be exceeded."""
    return [_one(session, cap, asked) for cap in caps]


def _one(session: Session, cap: dict[str, Any], asked: Asked) -> dict[str, Any]:
    kind, limit = cap["kind"], Decimal(str(cap["limit"]))
    used, wanted, extra = Decimal(0), asked.credits, {}
    if kind == "per_year":
        start = year_start(asked.applied_on, cap.get("year_starts", "01-01"))
        used = _used(session, asked, Reservation.year_start == start)
        extra = {"year_start": start.isoformat()}
    elif kind == "per_outcome":
        wanted = max((c for c, _ in asked.outcomes), default=Decimal(0))
    elif kind == "per_institution":
        used = _used(session, asked, Reservation.target_institution == asked.institution)
    elif kind == "per_programme":
        used = _used(session, asked, Reservation.target_programme == asked.programme)
    elif kind == "certificates":
        used = _used(
            session,
            asked,
            Reservation.target_programme == asked.programme,
            Reservation.certificate.is_(True),
            count=True,
        )
        wanted = Decimal(sum(1 for _, certificate in asked.outcomes if certificate))
    return {
        "kind": kind,
        "limit": str(limit),
        "used": str(used),
        "asked": str(wanted),
        "exceeded": used + wanted > limit,
        **extra,
    }


def refusal(cap: dict[str, Any]) -> str:
    """A cap exceeded, said plainly: which cap, its limit, what is already used."""
    unit = "certificates" if cap["kind"] == "certificates" else "credits"
    return (
        f"the {cap['kind']} cap of {shown(cap['limit'])} {unit} would be exceeded: "
        f"{shown(cap['used'])} already used, {shown(cap['asked'])} asked"
    )
