"""Conversion standards and their versions: drafted, edited while a draft, published once
checked whole (a rule set that contradicts itself is refused, each fault named), retired;
and the version in force on a day.

A standard is published by the provincial centre (for the whole province) or by a branch
(for its city). A published version never changes: an edit is a new version that
supersedes it. On any day, the version in force is the highest published one whose
effective dates hold the day and that was not retired before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from services.intake.conversion import audit, caps, catalogue
from services.intake.conversion.models import (
    CatalogueCertificate,
    ConversionRule,
    ConversionStandard,
    StandardVersion,
    VersionStatus,
)
from services.intake.conversion.rules import LEVEL_RANK, METHODS, SOURCES, Rule, shown
from shared.auth import Principal
from shared.clock import CHINA
from shared.db import utcnow
from shared.errors import Conflict, FieldError, Forbidden, InvalidState, NotFound, ValidationProblem

RULE_FIELDS = (
    "source", "catalogue_code", "organiser", "source_institution", "source_course",
    "min_level", "min_hours", "min_score", "max_age_years", "target_institution",
    "target_programme", "target_course", "method", "credits", "hours_per_credit", "max_credits",
)  # fmt: skip
# What makes two rules about the same outcomes and target: they must then agree.
MATCHER = RULE_FIELDS[:12]


def require_publisher(principal: Principal) -> None:
    if principal.unit_level not in ("province", "branch") or not principal.has_any("admin"):
        raise Forbidden(
            "conversion standards are kept by the administrators of the provincial centre "
            "or of a branch (for its city)"
        )


def _visible(session: Session, principal: Principal, code: str) -> ConversionStandard:
    standard = session.scalar(select(ConversionStandard).where(ConversionStandard.code == code))
    if standard is None:
        raise NotFound(f"conversion standard {code} not found")
    return standard


def may_edit(principal: Principal, standard: ConversionStandard) -> bool:
    return principal.unit_code == standard.publisher_code and principal.has_any("admin")


def listing(session: Session, principal: Principal) -> list[ConversionStandard]:
    """Every standard (anyone signed in reads the published ones)."""
    return list(session.scalars(select(ConversionStandard).order_by(ConversionStandard.code)))


def shown_versions(principal: Principal, standard: ConversionStandard) -> list[StandardVersion]:
    """Its versions as the caller may see them: drafts only to its publisher."""
    editor = may_edit(principal, standard)
    return [v for v in standard.versions if editor or v.status != VersionStatus.DRAFT]


def version_of(session: Session, principal: Principal, code: str, number: int) -> StandardVersion:
    standard = _visible(session, principal, code)
    found = next((v for v in shown_versions(principal, standard) if v.version == number), None)
    if found is None:
        raise NotFound(f"version {number} of conversion standard {code} not found")
    return found


def in_force(session: Session, code: str, day: date) -> StandardVersion:
    """The version of ``code`` in force on ``day``; 404 when none is."""
    standard = session.scalar(select(ConversionStandard).where(ConversionStandard.code == code))
    if standard is None:
        raise NotFound(f"conversion standard {code} not found")
    held = [v for v in standard.versions if _holds(v, day)]
    if not held:
        raise NotFound(f"no version of conversion standard {code} is in force on {day}")
    return max(held, key=lambda v: v.version)


def _holds(version: StandardVersion, day: date) -> bool:
    if version.status == VersionStatus.DRAFT or version.effective_from > day:
        return False
    if version.effective_to is not None and version.effective_to < day:
        return False
    retired = version.retired_at.astimezone(CHINA).date() if version.retired_at else None
    return retired is None or retired > day


def create(session: Session, principal: Principal, body: dict[str, Any]) -> ConversionStandard:
    """A new standard of the caller's unit, with its first version as a draft."""
    require_publisher(principal)
    if session.scalar(select(ConversionStandard.id).where(ConversionStandard.code == body["code"])):
        raise Conflict(
            f"conversion standard {body['code']} exists",
            [FieldError("code", "already used by another standard")],
        )
    standard = ConversionStandard(
        code=body["code"],
        name=body["name"],
        publisher_code=principal.unit_code,
        publisher_path=principal.unit_path,
        created_by=principal.username,
    )
    session.add(standard)
    session.flush()
    version = StandardVersion(
        standard_id=standard.id,
        version=1,
        status=VersionStatus.DRAFT,
        created_by=principal.username,
    )
    _fill(session, version, body)
    audit.record(session, principal, "standard.created", standard.code, {"name": standard.name})
    return standard


def new_draft(session: Session, principal: Principal, code: str) -> StandardVersion:
    """A draft that will supersede the latest version: its caps and rules copied."""
    standard = _editable(session, principal, code)
    if any(v.status == VersionStatus.DRAFT for v in standard.versions):
        raise Conflict(f"conversion standard {code} already has a draft; edit it")
    latest = standard.versions[-1]
    body = {
        "effective_from": latest.effective_from,
        "effective_to": latest.effective_to,
        "caps": latest.caps,
        "note": latest.note,
        "rules": [{name: getattr(r, name) for name in RULE_FIELDS} for r in latest.rules],
    }
    version = StandardVersion(
        standard_id=standard.id,
        version=latest.version + 1,
        status=VersionStatus.DRAFT,
        supersedes_id=latest.id,
        created_by=principal.username,
    )
    _fill(session, version, body)
    return version


def edit(
    session: Session, principal: Principal, code: str, number: int, body: dict[str, Any]
) -> StandardVersion:
    """A draft's content replaced whole: its dates, caps and rules (numbered in order)."""
    version = _draft(session, principal, code, number)
    session.execute(delete(ConversionRule).where(ConversionRule.version_id == version.id))
    _fill(session, version, body)
    return version


def _fill(session: Session, version: StandardVersion, body: dict[str, Any]) -> None:
    version.effective_from = body["effective_from"]
    version.effective_to = body.get("effective_to")
    version.caps = [_jsonable(cap) for cap in body.get("caps") or []]
    version.note = body.get("note")
    session.add(version)
    session.flush()
    rows = [
        {**dict.fromkeys(RULE_FIELDS), **rule, "version_id": version.id, "number": number}
        for number, rule in enumerate(body.get("rules") or [], start=1)
    ]
    if rows:  # one statement for thousands of rules
        session.execute(insert(ConversionRule), rows)
    session.expire(version, ["rules"])


def _jsonable(cap: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in cap.items()}


def _editable(session: Session, principal: Principal, code: str) -> ConversionStandard:
    require_publisher(principal)
    standard = _visible(session, principal, code)
    if not may_edit(principal, standard):
        raise Forbidden(f"conversion standard {code} is kept by {standard.publisher_code}")
    return standard


def _draft(session: Session, principal: Principal, code: str, number: int) -> StandardVersion:
    standard = _editable(session, principal, code)
    version = next((v for v in standard.versions if v.version == number), None)
    if version is None:
        raise NotFound(f"version {number} of conversion standard {code} not found")
    if version.status != VersionStatus.DRAFT:
        raise InvalidState(
            f"version {number} of {code} is {version.status.value}: a published version never "
            "changes; make a new version instead",
            current_state=version.status.value,
        )
    return version


def publish(session: Session, principal: Principal, code: str, number: int) -> StandardVersion:
    """The draft, checked whole, published: from now on it never changes (audited)."""
    version = _draft(session, principal, code, number)
    faults = contradictions(session, version)
    if faults:
        raise ValidationProblem(
            f"version {number} of {code} cannot be published as it stands", faults
        )
    version.status = VersionStatus.PUBLISHED
    version.published_by, version.published_at = principal.username, utcnow()
    audit.record(
        session,
        principal,
        "standard.published",
        code,
        {"version": number, "rules": len(version.rules)},
    )
    return version


def retire(
    session: Session, principal: Principal, code: str, number: int, reason: str
) -> StandardVersion:
    """A published version no longer in force from today on (audited); conversions already
    made under it keep it."""
    standard = _editable(session, principal, code)
    version = next((v for v in standard.versions if v.version == number), None)
    if version is None:
        raise NotFound(f"version {number} of conversion standard {code} not found")
    if version.status != VersionStatus.PUBLISHED:
        raise InvalidState(
            f"version {number} of {code} is {version.status.value}; only a published one "
            "is retired",
            current_state=version.status.value,
        )
    version.status = VersionStatus.RETIRED
    version.retired_by, version.retired_at, version.retired_reason = (
        principal.username,
        utcnow(),
        reason,
    )
    audit.record(
        session, principal, "standard.retired", code, {"version": number, "reason": reason}
    )
    return version


def rules_for(
    session: Session,
    version: StandardVersion,
    institution: str,
    programme: str,
    course: str | None,
) -> list[Rule]:
    """The version's rules toward one target (all its courses when ``course`` is None)."""
    query = select(ConversionRule).where(
        ConversionRule.version_id == version.id,
        ConversionRule.target_programme == programme,
        ConversionRule.target_institution == institution,
    )
    if course is not None:
        query = query.where(ConversionRule.target_course == course)
    return [as_rule(rule) for rule in session.scalars(query.order_by(ConversionRule.number))]


def as_rule(rule: ConversionRule) -> Rule:
    """A rule's published facts, as the engine and an application's snapshot hold them."""

    def text(value: Any) -> str | None:
        return None if value is None else str(value)

    return Rule(
        id=rule.id,
        number=rule.number,
        source=rule.source,
        target_institution=rule.target_institution,
        target_programme=rule.target_programme,
        method=rule.method,
        target_course=rule.target_course,
        catalogue_code=rule.catalogue_code,
        organiser=rule.organiser,
        source_institution=rule.source_institution,
        source_course=rule.source_course,
        min_level=rule.min_level,
        min_hours=text(rule.min_hours),
        min_score=text(rule.min_score),
        max_age_years=rule.max_age_years,
        credits=text(rule.credits),
        hours_per_credit=text(rule.hours_per_credit),
        max_credits=text(rule.max_credits),
    )


# --- a rule set checked whole --------------------------------------------------------------


def contradictions(session: Session, version: StandardVersion) -> list[FieldError]:
    """Every fault of the version that would make its decisions wrong or ambiguous."""
    faults = _date_faults(version) + _cap_faults(version.caps)
    per_outcome = next(
        (Decimal(str(c["limit"])) for c in version.caps if c.get("kind") == "per_outcome"), None
    )
    known = catalogue.everything(session)
    book = Book(
        certificates={c.code: c for c in known["certificates"]},
        institutions={i.code for i in known["institutions"]},
        programmes={p.code: p.institution_code for p in known["programmes"]},
        courses={c.code: c.programme_code for c in known["courses"]},
    )
    seen: dict[tuple[Any, ...], ConversionRule] = {}
    for index, rule in enumerate(version.rules):
        faults += _rule_faults(book, f"rules.{index}", rule, per_outcome)
        key = tuple(getattr(rule, name) for name in MATCHER)
        earlier = seen.get(key)
        if earlier is not None and _gives(earlier) != _gives(rule):
            faults.append(
                FieldError(
                    f"rules.{index}",
                    f"contradicts rule {earlier.number}: the same outcomes and target, "
                    "other credits",
                )
            )
        seen.setdefault(key, rule)
    if not version.rules:
        faults.append(FieldError("rules", "a version holds at least one rule"))
    return faults


def _gives(rule: ConversionRule) -> tuple[Any, ...]:
    return (rule.method, rule.credits, rule.hours_per_credit, rule.max_credits)


def _date_faults(version: StandardVersion) -> list[FieldError]:
    if version.effective_to is not None and version.effective_to < version.effective_from:
        return [FieldError("effective_to", "must not be before effective_from")]
    return []


def _cap_faults(declared: list[dict[str, Any]]) -> list[FieldError]:
    faults, kinds = [], []
    for index, cap in enumerate(declared):
        name = f"caps.{index}"
        if cap.get("kind") not in caps.KINDS:
            faults.append(FieldError(f"{name}.kind", f"must be one of {', '.join(caps.KINDS)}"))
        elif cap["kind"] in kinds:
            faults.append(FieldError(f"{name}.kind", f"{cap['kind']} is declared twice"))
        kinds.append(cap.get("kind"))
        try:
            if Decimal(str(cap.get("limit"))) <= 0:
                raise InvalidOperation
        except InvalidOperation:
            faults.append(FieldError(f"{name}.limit", "must be a number above 0"))
        if cap.get("kind") == "per_year":
            try:
                caps.year_start(date(2024, 6, 1), str(cap.get("year_starts", "01-01")))
            except ValueError:
                faults.append(FieldError(f"{name}.year_starts", "must be a day as MM-DD"))
    return faults


@dataclass(frozen=True)
class Book:
    """The catalogue, read once for a whole rule set."""

    certificates: dict[str, CatalogueCertificate]
    institutions: set[str]
    programmes: dict[str, str]  # code -> its institution
    courses: dict[str, str]  # code -> its programme


def _rule_faults(
    book: Book, name: str, rule: ConversionRule, per_outcome: Decimal | None
) -> list[FieldError]:
    faults = []

    def fault(field: str, reason: str) -> None:
        faults.append(FieldError(f"{name}.{field}", reason))

    if rule.source not in SOURCES:
        fault("source", f"must be one of {', '.join(SOURCES)}")
    if rule.source == "certificate":
        certificate = book.certificates.get(rule.catalogue_code or "")
        if certificate is None:
            fault("catalogue_code", f"{rule.catalogue_code} is not a certificate of the catalogue")
        elif rule.min_level and certificate.levels and rule.min_level not in certificate.levels:
            fault(
                "min_level",
                f"{rule.catalogue_code} is issued at {'、'.join(certificate.levels)}, "
                f"not {rule.min_level}",
            )
    if rule.source == "course" and not rule.source_institution:
        fault("source_institution", "a course rule names the institution of the course")
    if rule.min_level is not None and rule.min_level not in LEVEL_RANK:
        fault("min_level", f"must be one of {', '.join(LEVEL_RANK)}")
    faults += _target_faults(book, name, rule)
    if rule.method not in METHODS:
        fault("method", f"must be one of {', '.join(METHODS)}")
    elif rule.method == "fixed" and not (rule.credits and rule.credits > 0):
        fault("credits", "a fixed rule gives credits above 0")
    elif rule.method == "per_hours":
        if not (rule.hours_per_credit and rule.hours_per_credit > 0):
            fault("hours_per_credit", "must be above 0")
        if not (rule.max_credits and rule.max_credits > 0):
            fault("max_credits", "a rule by hours gives at most so many credits (above 0)")
    most = rule.credits if rule.method == "fixed" else rule.max_credits
    if per_outcome is not None and most is not None and most > per_outcome:
        fault(
            "credits" if rule.method == "fixed" else "max_credits",
            f"gives up to {shown(most)} credits, above the per_outcome cap of {shown(per_outcome)}",
        )
    return faults


def _target_faults(book: Book, name: str, rule: ConversionRule) -> list[FieldError]:
    faults = []
    if rule.target_institution not in book.institutions:
        faults.append(
            FieldError(f"{name}.target_institution", "not an institution of the catalogue")
        )
    if book.programmes.get(rule.target_programme) != rule.target_institution:
        faults.append(FieldError(f"{name}.target_programme", "not a programme of that institution"))
    if rule.target_course is not None and book.courses.get(rule.target_course) != (
        rule.target_programme
    ):
        faults.append(FieldError(f"{name}.target_course", "not a course of that programme"))
    return faults
