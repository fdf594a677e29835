"""Automatic checks a level's worker runs before a person sees a case; their results are
attached to the case for the reviewer, they decide nothing by themselves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.review.models import Case, CaseStatus

MAX_CREDITS, MAX_HOURS = Decimal("30"), Decimal("2000")


def _result(name: str, passed: bool, detail: str) -> dict[str, Any]:
    return {"check": name, "passed": passed, "detail": detail}


def run_checks(session: Session, message: dict[str, Any]) -> list[dict[str, Any]]:
    results = []
    needs_evidence = message["kind"] == "deposit"
    count = len(message.get("attachments") or [])
    results.append(
        _result(
            "evidence_present", count > 0 or not needs_evidence, f"{count} piece(s) of evidence"
        )
    )
    credits, hours = message.get("credits"), message.get("hours")
    within = (credits is None or 0 < credits <= MAX_CREDITS) and (
        hours is None or 0 < hours <= MAX_HOURS
    )
    results.append(
        _result("amounts_within_bounds", within, f"credits {credits or '-'}, hours {hours or '-'}")
    )
    submitted = message["submitted_at"]
    plausible = submitted <= datetime.now(UTC) + timedelta(minutes=5)
    results.append(_result("dates_plausible", plausible, f"submitted {submitted.isoformat()}"))
    results.append(_duplicates(session, message))
    return results


def _duplicates(session: Session, message: dict[str, Any]) -> dict[str, Any]:
    """The same certificate number deposited or pending for any other application."""
    number = message.get("certificate_number")
    if not number:
        return _result("certificate_unique", True, "no certificate number")
    others = session.scalars(
        select(Case.application_id)
        .where(
            Case.certificate_number == number,
            Case.application_id != message["application_id"],
            Case.status != CaseStatus.WITHDRAWN,
        )
        .distinct()
        .limit(5)
    ).all()
    if others:
        return _result(
            "certificate_unique",
            False,
            "also in application(s) " + ", ".join(str(o) for o in others),
        )
    return _result("certificate_unique", True, "not seen in any other application")
