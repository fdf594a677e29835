"""Corrections of what the ledger holds: an approved deposit found false is reversed by a new
entry of the opposite amounts, never by an edit (the ledger is append-only). What stands on
it must go first: a conversion holding the outcome is reversed before the deposit is; a
certificate stating it is suspended at once (``certificates.relying``)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.intake import posting, timeline
from services.intake.certificates import relying
from services.intake.conversion import audit
from services.intake.conversion.models import Reservation, ReservationStatus
from services.intake.models import (
    ApplicationKind,
    ApplicationStatus,
    EntryKind,
    LedgerEntry,
)
from services.intake.scope import get_visible, require_corrector
from shared.auth import Principal
from shared.errors import Conflict, FieldError, InvalidState


def reverse_deposit(
    session: Session, principal: Principal, application_id: uuid.UUID, reason: str
) -> LedgerEntry:
    """A reversal entry of an approved deposit's credits and hours (audited)."""
    require_corrector(principal, "a deposit")
    application = get_visible(session, principal, application_id, lock=True)
    if (
        application.kind != ApplicationKind.DEPOSIT
        or application.status != ApplicationStatus.APPROVED
    ):
        raise InvalidState(
            f"application {application_id} is not an approved deposit",
            current_state=application.status.value,
        )
    posted = {e.entry_kind: e for e in session.scalars(posting.of_application(application_id))}
    if EntryKind.REVERSAL in posted:
        raise Conflict(f"deposit {application_id} is already reversed")
    original = posted[EntryKind.DEPOSIT]
    holder = session.scalar(
        select(Reservation).where(
            Reservation.ledger_entry_id == original.id,
            Reservation.status.in_((ReservationStatus.RESERVED, ReservationStatus.CONSUMED)),
        )
    )
    if holder is not None:
        raise Conflict(
            "a conversion stands on this outcome",
            [
                FieldError(
                    "application_id",
                    f"outcome {original.id} is {holder.status.value} by conversion "
                    f"{holder.application_id}: end or reverse that conversion first",
                )
            ],
        )
    reversal = posting.reverse(session, original, reason)
    relying.suspend(session, principal, [original.id], f"所依据的学习成果已冲销：{reason}")
    timeline.event(
        session,
        application,
        "reversed",
        principal.staff_id,
        principal.username,
        reason=reason,
        unit_code=principal.unit_code,
        unit_name=principal.unit_name,
    )
    audit.record(
        session,
        principal,
        "deposit.reversed",
        str(application_id),
        {"credits": str(original.credits), "hours": str(original.hours), "reason": reason},
    )
    session.flush()
    return reversal
