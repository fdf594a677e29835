"""Certificate applications (学习成果证明开具申请): at the window, for a learner's account, a
certificate of the whole record or of chosen entries (deposited outcomes, imported training
records, conversions). The application states what the certificate will say, entry by entry,
as the ledger holds it now; review decides it like any application, and its final approval
issues the certificate once (``issuance.issue``)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.intake import handoff, ledger, serving
from services.intake.context import IntakeContext
from services.intake.conversion.applications import facts_of
from services.intake.models import (
    OUTCOME_ENTRIES,
    Account,
    AccountStatus,
    Application,
    ApplicationKind,
    ApplicationVersion,
    EntryKind,
    LedgerEntry,
)
from services.intake.scope import require_window_staff
from shared.auth import Principal
from shared.errors import Conflict, FieldError, ValidationProblem

STATED = (*OUTCOME_ENTRIES, EntryKind.CONVERSION)
# A certificate of 50 entries is a QR code of version 20 at error correction Q (measured with
# segno: 1 entry v16, 5 v17, 50 v20, 200 v28); past that a phone reads it from paper poorly.
MAX_ENTRIES = 50


@dataclass(frozen=True)
class Request:
    account: str  # its number, or the reference the learner's document gave this window
    entries: tuple[int, ...] | None  # ledger entries; None: the whole record
    purpose: str | None = None


def request_of(body: dict[str, Any]) -> Request:
    """The request as ``CertificateInSchema`` loaded it."""
    entries = body.get("entries")
    return Request(
        account=body.get("account_ref") or body["account_number"],
        entries=tuple(entries) if entries else None,
        purpose=body.get("purpose"),
    )


def take(
    session: Session, ctx: IntakeContext, principal: Principal, request: Request
) -> Application:
    """Take the certificate application: what it will state, checked and recorded."""
    require_window_staff(principal)
    account, _ = serving.reach(session, ctx, principal, request.account)
    if account.status != AccountStatus.OPEN:
        raise Conflict("the learning account is not open", [FieldError("account", "not open")])
    entries = statement(session, account, request.entries)
    data = {
        "scope": "whole" if request.entries is None else "chosen",
        "purpose": request.purpose,
        "entries": entries,
        "totals": totals(entries),
    }
    return handoff.take(session, principal, ApplicationKind.CERTIFICATE, account, data, [])


def statement(
    session: Session, account: Account, chosen: tuple[int, ...] | None
) -> list[dict[str, Any]]:
    """Each entry the certificate will state, as the ledger holds it: its kind, title,
    date, hours and credits (a conversion: its target). Refused, each by its place: an entry
    not the account's, a reversal, an entry since reversed, one named twice."""
    query = select(LedgerEntry).where(LedgerEntry.account_id == account.id)
    if chosen is not None:
        query = query.where(LedgerEntry.id.in_(chosen))
    found = {e.id: e for e in session.scalars(query.order_by(LedgerEntry.id))}
    reversed_ = ledger.reversed_applications(session, found.values())
    if chosen is None:
        listed = [
            e
            for e in found.values()
            if e.entry_kind in STATED and e.application_id not in reversed_
        ]
        if not listed:
            raise ValidationProblem(
                "the record holds nothing to certify",
                [FieldError("entries", "the account has no approved outcome or conversion")],
            )
        if len(listed) > MAX_ENTRIES:
            raise ValidationProblem(
                "too much for one certificate",
                [FieldError("entries", f"the record holds {len(listed)} entries: choose at most "
                            f"{MAX_ENTRIES}")],
            )  # fmt: skip
        return [stated_entry(session, e) for e in listed]
    problems, listed = [], []
    for index, entry_id in enumerate(chosen):
        entry, name = found.get(entry_id), f"entries.{index}"
        if chosen.index(entry_id) != index:
            problems.append(FieldError(name, f"entry {entry_id} is named twice"))
        elif entry is None:
            problems.append(FieldError(name, f"{entry_id} is not an entry of this account"))
        elif entry.entry_kind not in STATED:
            problems.append(FieldError(name, f"{entry_id} is a {entry.entry_kind.value}"))
        elif entry.application_id in reversed_:
            problems.append(FieldError(name, f"entry {entry_id} has been reversed"))
        else:
            listed.append(entry)
    if problems:
        raise ValidationProblem("some entries cannot be certified", problems)
    return [stated_entry(session, e) for e in listed]


def stated_entry(session: Session, entry: LedgerEntry) -> dict[str, Any]:
    if entry.entry_kind == EntryKind.CONVERSION:
        data = session.scalars(
            select(ApplicationVersion.data)
            .where(ApplicationVersion.application_id == entry.application_id)
            .order_by(ApplicationVersion.version.desc())
            .limit(1)
        ).one()
        target = data["target"]
        return {
            "entry_id": entry.id,
            "entry_kind": entry.entry_kind.value,
            "outcome_kind": "conversion",
            "title": entry.description,
            "on": entry.posted_at.date().isoformat(),
            "hours": "0",
            "credits": str(entry.credits),
            "code": target["programme"]["code"],
            "target": {
                "institution": target["institution"]["name"],
                "programme": target["programme"]["name"],
                "course": (target.get("course") or {}).get("name"),
            },
            "standard": f"{data['standard']['code']} 第{data['standard']['version']}版",
        }
    facts = facts_of(session, entry)
    return {
        "entry_id": entry.id,
        "entry_kind": entry.entry_kind.value,
        "outcome_kind": entry.outcome_kind,
        "title": entry.description,
        "on": facts.on,
        "hours": str(entry.hours),
        "credits": str(entry.credits),
        "code": facts.catalogue_code or facts.course_code,
    }


def totals(entries: list[dict[str, Any]]) -> dict[str, str]:
    """Hours and credits deposited, and credits converted."""
    deposited = [e for e in entries if e["entry_kind"] != "conversion"]
    converted = [e for e in entries if e["entry_kind"] == "conversion"]
    return {
        "hours": str(sum((Decimal(e["hours"]) for e in deposited), Decimal(0))),
        "credits": str(sum((Decimal(e["credits"]) for e in deposited), Decimal(0))),
        "converted_credits": str(sum((Decimal(e["credits"]) for e in converted), Decimal(0))),
    }
