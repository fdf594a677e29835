"""One row of an import, checked like a single deposit: the learner's identity (the ID
number rule, name, mobile number) and the social-training outcome (required fields, lengths,
dates, hours), every fault named by its column.

Written for speed as well as clarity: a file may hold 100,000 rows, so each rule is plain
code over strings, with the same limits as ``services.intake.outcomes.SocialTraining``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from services.intake.imports.files import FIELDS, HEADER_OF
from shared.identity import (
    DOCUMENT_NAMES,
    DocumentType,
    IdentityError,
    IdentityInfo,
    parse_identity,
    validate_mobile,
    validate_name,
)
from shared.pii import mask_document_number, mask_name, mask_phone

DOCUMENT_TYPES = {
    "": DocumentType.RESIDENT_ID,
    "身份证": DocumentType.RESIDENT_ID,
    **{name: DocumentType(kind) for kind, name in DOCUMENT_NAMES.items()},
    **{kind.value: kind for kind in DocumentType},
}
TEXT_LIMITS = {"organiser": 100, "programme": 100, "certificate_number": 64}
MIN_HOURS, MAX_HOURS = Decimal("0.5"), Decimal("2000")
EARLIEST = date(1950, 1, 1)
_DATE = re.compile(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?|(\d{4})(\d{2})(\d{2})")
_HOURS = re.compile(r"\d+(?:\.\d{1,2})?")


@dataclass(frozen=True)
class Issue:
    field: str
    value: str | None  # as sent; ID and phone numbers masked
    reason: str

    @property
    def column(self) -> str:
        return HEADER_OF.get(self.field, self.field)


@dataclass(frozen=True)
class RowRecord:
    """A row that passed: the learner and the training, normalised."""

    row: int
    identity: IdentityInfo
    name: str
    phone: str
    organiser: str
    programme: str
    start_date: date
    end_date: date
    hours: Decimal
    certificate_number: str


# Where dedupe_key's fields are in a rows file's row (its first cell is the row's number).
_DOCUMENT_CELL = 1 + FIELDS.index("document_number")
_KEY_CELLS = tuple(
    1 + FIELDS.index(f) for f in ("organiser", "programme", "start_date", "end_date")
)


def dedupe_key(cells: list[str]) -> tuple[str, ...]:
    """What makes two rows of one file the same record: the document and the training."""
    if len(cells) != 1 + len(FIELDS):  # a rows file's row: its number, then every field
        raise ValueError(f"a row of {len(cells)} cells, not {1 + len(FIELDS)}")
    return (
        cells[_DOCUMENT_CELL].strip().upper(),
        *(cells[i].strip() for i in _KEY_CELLS),
    )


def check_row(cells: list[str], today: date) -> RowRecord | list[Issue]:
    """The row's record, or every issue it has (one per column at fault)."""
    row = dict(zip(FIELDS, [c.strip() for c in cells[1:]], strict=True))
    issues: list[Issue] = []
    identity = _identity(row, issues)
    name = _person(row, "name", validate_name, issues)
    phone = _person(row, "phone", validate_mobile, issues)
    texts = {field: _text(row, field, limit, issues) for field, limit in TEXT_LIMITS.items()}
    start = _date(row, "start_date", today, issues)
    end = _date(row, "end_date", today, issues)
    if start and end and end < start:
        issues.append(Issue("end_date", row["end_date"], "must not be before start_date"))
    hours = _hours(row, issues)
    if issues:
        return issues
    assert identity and name and phone and start and end and hours
    return RowRecord(
        int(cells[0]),
        identity,
        name,
        phone,
        texts["organiser"],
        texts["programme"],
        start,
        end,
        hours,
        texts["certificate_number"],
    )


def _identity(row: dict[str, str], issues: list[Issue]) -> IdentityInfo | None:
    kind = DOCUMENT_TYPES.get(row["document_type"])
    if kind is None:
        issues.append(Issue("document_type", row["document_type"][:200], "unknown document type"))
        return None
    number = row["document_number"]
    if not number:
        issues.append(Issue("document_number", None, "required"))
        return None
    try:
        return parse_identity(kind, number)
    except IdentityError as exc:
        issues.append(Issue("document_number", mask_document_number(number[:40]), exc.reason))
        return None


def _person(
    row: dict[str, str], field: str, check: Callable[[str], str], issues: list[Issue]
) -> str | None:
    value = row[field]
    if not value:
        issues.append(Issue(field, None, "required"))
        return None
    try:
        return check(value)
    except IdentityError as exc:
        shown = mask_phone(value[:40]) if field == "phone" else mask_name(value[:50])
        issues.append(Issue(field, shown, exc.reason))
        return None


def _text(row: dict[str, str], field: str, limit: int, issues: list[Issue]) -> str:
    value = row[field]
    if not value:
        issues.append(Issue(field, None, "required"))
    elif len(value) > limit:
        issues.append(Issue(field, value[:200], f"longer than {limit} characters"))
    return value


def _date(row: dict[str, str], field: str, today: date, issues: list[Issue]) -> date | None:
    raw = row[field]
    if not raw:
        issues.append(Issue(field, None, "required"))
        return None
    match = _DATE.fullmatch(raw)
    try:
        if match is None:
            raise ValueError
        parts = [int(p) for p in match.groups() if p is not None]
        value = date(*parts)
    except ValueError:
        issues.append(Issue(field, raw[:200], "not a date (write it as 2026-03-01)"))
        return None
    if value > today:
        issues.append(Issue(field, raw, "must not be in the future"))
    elif value < EARLIEST:
        issues.append(Issue(field, raw, "must not be before 1950"))
    else:
        return value
    return None


def _hours(row: dict[str, str], issues: list[Issue]) -> Decimal | None:
    raw = row["hours"]
    if not raw:
        issues.append(Issue("hours", None, "required"))
        return None
    try:
        if not _HOURS.fullmatch(raw):
            raise InvalidOperation
        hours = Decimal(raw)
    except InvalidOperation:
        issues.append(Issue("hours", raw[:200], "not a number with at most 2 decimals"))
        return None
    if not MIN_HOURS <= hours <= MAX_HOURS:
        issues.append(Issue("hours", raw, f"must be between {MIN_HOURS} and {MAX_HOURS}"))
        return None
    return hours
