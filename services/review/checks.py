"""Automatic checks a level's worker runs before a person sees a case; their results are
attached to the case for the reviewer, they decide nothing by themselves."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.review.models import OPEN_STATUSES, Case, Decision
from shared import evidence, messages

MAX_CREDITS, MAX_HOURS = Decimal("30"), Decimal("2000")
EARLIEST = date(1950, 1, 1)  # no outcome on record is older than the learners themselves
HOURS_PER_DAY = 12  # more hours than this per calendar day of a course is not plausible


def _result(name: str, passed: bool, detail: str) -> dict[str, Any]:
    return {"check": name, "passed": passed, "detail": detail}


def run_checks(
    session: Session, message: messages.ReviewRequest, store: Path
) -> list[dict[str, Any]]:
    return [
        _required_fields(message),
        _evidence_present(message),
        _evidence_readable(message, store),
        _dates_plausible(message),
        _amounts_within_bounds(message),
        _certificate_unique(session, message),
        *([_batch_adds_up(message["batch"])] if message["batch"] else []),
    ]


def _batch_adds_up(batch: messages.BatchSummary) -> dict[str, Any]:
    """An import's figures agree: every row is a record, invalid or a duplicate, and the
    records' row numbers are as many as its records."""
    named = sum(last - first + 1 for first, last in batch["record_rows"])
    accounted = batch["records"] + batch["invalid"] + batch["duplicate"]
    problems = []
    if accounted != batch["rows_total"]:
        problems.append(f"{accounted} rows accounted for of {batch['rows_total']}")
    if named != batch["records"]:
        problems.append(f"{named} record rows named for {batch['records']} records")
    if problems:
        return _result("batch_adds_up", False, "; ".join(problems))
    return _result(
        "batch_adds_up",
        True,
        f"{batch['rows_total']} rows: {batch['records']} records, {batch['invalid']} invalid, "
        f"{batch['duplicate']} duplicate; {batch['hours_total']} hours",
    )


def _required_fields(message: messages.ReviewRequest) -> dict[str, Any]:
    if message["kind"] == "import":
        present = bool(message.get("batch")) and message.get("outcome_kind") == "social_training"
        return _result("required_fields", present, "a batch of social-training records")
    if message["kind"] == "conversion":
        present = message.get("credits") is not None
        return _result("required_fields", present, "the credits the conversion asks for")
    if message["kind"] != "deposit":
        return _result("required_fields", True, "nothing beyond the application itself")
    missing = [
        name
        for name, present in (
            ("outcome_kind", message.get("outcome_kind")),
            ("credits or hours", message.get("credits") or message.get("hours")),
        )
        if not present
    ]
    if missing:
        return _result("required_fields", False, "missing: " + ", ".join(missing))
    return _result("required_fields", True, "outcome kind and amount present")


def _evidence_present(message: messages.ReviewRequest) -> dict[str, Any]:
    if message["kind"] == "import":  # each record is its own evidence: the file is kept
        return _result("evidence_present", True, "the import's file, kept by intake")
    count = len(message.get("attachments") or [])
    if message["kind"] == "conversion":  # the outcomes converted were proved when deposited
        return _result(
            "evidence_present", True, f"{count} piece(s) of evidence of the outcomes converted"
        )
    if message["kind"] == "certificate":  # it states the record: each entry proved already
        return _result("evidence_present", True, "the record's entries, each reviewed already")
    needed = message["kind"] == "deposit"
    return _result("evidence_present", count > 0 or not needed, f"{count} piece(s) of evidence")


def _evidence_readable(message: messages.ReviewRequest, store: Path) -> dict[str, Any]:
    shas = message.get("attachments") or []
    problems = [f"{sha[:12]}…: {why}" for sha in shas if (why := evidence.unreadable(store, sha))]
    if problems:
        return _result("evidence_readable", False, "; ".join(problems))
    return _result("evidence_readable", True, f"{len(shas)} file(s) read and hash-checked")


def _dates_plausible(message: messages.ReviewRequest) -> dict[str, Any]:
    problems = []
    if message["submitted_at"] > datetime.now(UTC) + timedelta(minutes=5):
        problems.append("submitted in the future")
    dates: dict[str, date] = message.get("dates") or {}
    today = datetime.now(UTC).date() + timedelta(days=1)  # a day's grace across time zones
    for name, value in sorted(dates.items()):
        if value > today:
            problems.append(f"{name} {value} is in the future")
        elif value < EARLIEST:
            problems.append(f"{name} {value} is before {EARLIEST}")
    start, end = dates.get("start_date"), dates.get("end_date")
    if start and end:
        if end < start:
            problems.append(f"end_date {end} is before start_date {start}")
        elif (hours := message["hours"]) and hours > HOURS_PER_DAY * ((end - start).days + 1):
            problems.append(f"{hours} hours in {(end - start).days + 1} day(s)")
    if problems:
        return _result("dates_plausible", False, "; ".join(problems))
    return _result("dates_plausible", True, f"{len(dates)} date(s) and the submission time")


def _amounts_within_bounds(message: messages.ReviewRequest) -> dict[str, Any]:
    credits, hours = message.get("credits"), message.get("hours")
    within = (credits is None or 0 < credits <= MAX_CREDITS) and (
        hours is None or 0 < hours <= MAX_HOURS
    )
    return _result(
        "amounts_within_bounds", within, f"credits {credits or '-'}, hours {hours or '-'}"
    )


def _certificate_unique(session: Session, message: messages.ReviewRequest) -> dict[str, Any]:
    """The same certificate number approved or pending for any other application."""
    number = message.get("certificate_number")
    if not number:
        return _result("certificate_unique", True, "no certificate number")
    others = session.scalars(
        select(Case.application_id)
        .where(
            Case.certificate_number == number,
            Case.application_id != message["application_id"],
            Case.status.in_(OPEN_STATUSES) | (Case.decision == Decision.APPROVE),
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
