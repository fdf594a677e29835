"""Conversion applications (转换申请): the preview, the application with its outcomes reserved,
its end (consumed and posted to the ledger, or released), and a later reversal.

At the window, for a learner's account: chosen outcomes (approved deposits or import records
of the account's ledger) and a target (an institution, a programme, perhaps a course). The
standard in force today says which of its rules apply, the credits each would give and
whether a cap would be hit; the preview shows it all and writes nothing. The application
pins the version and the rules used, with the facts of each outcome they were applied to,
so that its credits can be recomputed from it alone. Its outcomes are then reserved:
another conversion of one of them is refused, whichever arrives first, even at the same
instant (the learner's row is locked while a conversion is weighed, and a partial unique
index holds each outcome once). A conversion outside any rule may be asked for as an expert
judgement, with its credits and its reason: it climbs one level higher in review.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from services.intake import handoff, ledger, posting, serving, timeline
from services.intake.certificates import relying
from services.intake.context import IntakeContext
from services.intake.conversion import audit, caps, catalogue, rules, standards
from services.intake.conversion.models import (
    ConversionStandard,
    Reservation,
    ReservationStatus,
    StandardVersion,
)
from services.intake.models import (
    OUTCOME_ENTRIES,
    Account,
    AccountStatus,
    Application,
    ApplicationKind,
    ApplicationStatus,
    ApplicationVersion,
    EntryKind,
    ImportRecord,
    Learner,
    LedgerEntry,
)
from services.intake.scope import get_visible, require_corrector, require_window_staff
from shared.auth import Principal
from shared.clock import CHINA
from shared.db import utcnow
from shared.errors import Conflict, FieldError, InvalidState, NotFound, ValidationProblem

DATE_FIELDS = ("issued_on", "completed_on", "awarded_on", "end_date")
HELD = {
    ReservationStatus.RESERVED: "reserved by",
    ReservationStatus.CONSUMED: "consumed by",
    ReservationStatus.REVERSED: "consumed (then reversed) by",
}


@dataclass(frozen=True)
class Request:
    account: str  # its number, or the reference the learner's document gave this window
    standard: str
    outcomes: tuple[int, ...]  # ledger entries of the account
    institution: str
    programme: str
    course: str | None = None
    expert_credits: Decimal | None = None
    expert_reason: str | None = None

    @property
    def target(self) -> tuple[str, str, str | None]:
        return self.institution, self.programme, self.course


def request_of(body: dict[str, Any]) -> Request:
    """The request as the API's schema loaded it (``ConversionInSchema``)."""
    expert = body.get("expert") or {}
    return Request(
        account=body.get("account_ref") or body["account_number"],
        standard=body["standard"],
        outcomes=tuple(body["outcomes"]),
        institution=body["target"]["institution"],
        programme=body["target"]["programme"],
        course=body["target"].get("course"),
        expert_credits=expert.get("credits"),
        expert_reason=expert.get("reason"),
    )


@dataclass
class Weighed:
    """A conversion weighed against the standard in force: what the preview shows and the
    application records. ``problems`` empty: it may be applied for as it stands."""

    account: Account
    learner: Learner
    version: StandardVersion
    applied_on: date
    applied: list[rules.Applied]
    caps: list[dict[str, Any]]
    credits: Decimal
    problems: list[FieldError]
    conflicts: list[FieldError]  # outcomes another conversion holds (409)
    request: Request

    def snapshot(self, session: Session) -> dict[str, Any]:
        """The application's own record of the decision: enough to recompute it."""
        standard = self.version.standard
        return {
            "standard": {
                "code": standard.code,
                "name": standard.name,
                "version": self.version.version,
                "version_id": self.version.id,
            },
            "target": catalogue.names(session, *self.request.target),
            "applied_on": self.applied_on.isoformat(),
            "outcomes": [
                {
                    "entry_id": a.facts.entry_id,
                    "facts": a.facts.as_dict(),
                    "rule": a.rule.as_dict() if a.rule else None,
                    "credits": str(a.credits),
                }
                for a in self.applied
            ],
            "expert": (
                {"credits": str(self.request.expert_credits), "reason": self.request.expert_reason}
                if self.request.expert_credits is not None
                else None
            ),
            "caps": self.caps,
            "credits": str(self.credits),
        }


def today() -> date:
    return utcnow().astimezone(CHINA).date()


def weigh(
    session: Session, ctx: IntakeContext, principal: Principal, request: Request, lock: bool = False
) -> Weighed:
    """The conversion against the standard in force today; refusals of the request itself
    (an unknown standard, a target not in the catalogue) raise at once, what the chosen
    outcomes meet is listed in ``problems`` and ``conflicts``."""
    require_window_staff(principal)
    account, learner = serving.reach(session, ctx, principal, request.account)
    if account.status != AccountStatus.OPEN:
        raise Conflict("the learning account is not open", [FieldError("account", "not open")])
    if lock:  # one conversion of a learner weighed at a time: outcomes and caps hold still
        session.execute(select(Learner.id).where(Learner.id == learner.id).with_for_update())
    applied_on = today()
    version = _version(session, principal, request.standard, applied_on)
    _check_target(session, request)
    found, problems, conflicts = _outcomes(session, account, request.outcomes)
    offered = standards.rules_for(session, version, *request.target)
    applied = [rules.apply(offered, facts, request.target, applied_on) for facts in found]
    problems += _unconverted(applied, request)
    credits = _credits(applied, request)
    asked = caps.Asked(
        learner.id,
        applied_on,
        request.institution,
        request.programme,
        tuple(
            (share, f.kind in rules.CERTIFICATE_KINDS)
            for f, share in zip(found, _shares(applied, request, credits), strict=True)
        ),
    )
    status = caps.status(session, version.caps, asked)
    problems += [FieldError(f"caps.{c['kind']}", caps.refusal(c)) for c in status if c["exceeded"]]
    return Weighed(
        account,
        learner,
        version,
        applied_on,
        applied,
        status,
        credits,
        problems,
        conflicts,
        request,
    )


def _version(session: Session, principal: Principal, code: str, day: date) -> StandardVersion:
    standard = session.scalar(select(ConversionStandard).where(ConversionStandard.code == code))
    if standard is None:
        raise ValidationProblem(
            "unknown conversion standard",
            [FieldError("standard", f"{code} is not a conversion standard")],
        )
    if not principal.unit_path.startswith(standard.publisher_path):  # a branch's: its city
        raise ValidationProblem(
            "this standard does not apply here",
            [
                FieldError(
                    "standard", f"{code} is {standard.publisher_code}'s, for its own city only"
                )
            ],
        )
    try:
        return standards.in_force(session, code, day)
    except NotFound:
        raise ValidationProblem(
            "no version of this standard is in force",
            [
                FieldError(
                    "standard",
                    f"no version of {code} is in force on {day} (retired, or not yet effective)",
                )
            ],
        ) from None


def _check_target(session: Session, request: Request) -> None:
    names = catalogue.names(session, *request.target)
    faults = [
        FieldError(f"target.{key}", "not in the catalogue")
        for key, value in (
            ("institution", request.institution),
            ("programme", request.programme),
            ("course", request.course),
        )
        if value is not None and names[key] is None
    ]
    if faults:
        raise ValidationProblem("the target is not in the catalogue", faults)


def _outcomes(
    session: Session, account: Account, ids: tuple[int, ...]
) -> tuple[list[rules.Facts], list[FieldError], list[FieldError]]:
    """The facts of each chosen outcome; what is not the account's deposited outcome, and
    what another conversion holds, by its place in the request."""
    problems, conflicts, wanted = [], [], []
    entries = {e.id: e for e in session.scalars(select(LedgerEntry).where(LedgerEntry.id.in_(ids)))}
    held = {
        r.ledger_entry_id: r
        for r in session.scalars(
            select(Reservation).where(
                Reservation.ledger_entry_id.in_(ids),
                Reservation.status != ReservationStatus.RELEASED,
            )
        )
    }
    reversed_ = ledger.reversed_applications(session, entries.values())
    for index, entry_id in enumerate(ids):
        entry = entries.get(entry_id)
        name = f"outcomes.{index}"
        if ids.index(entry_id) != index:
            problems.append(FieldError(name, f"outcome {entry_id} is named twice"))
        elif entry is None or entry.account_id != account.id:
            problems.append(
                FieldError(name, f"{entry_id} is not an approved outcome of this learner's account")
            )
        elif entry.entry_kind not in OUTCOME_ENTRIES:
            problems.append(
                FieldError(
                    name, f"{entry_id} is a {entry.entry_kind.value}, not a deposited outcome"
                )
            )
        elif entry.application_id in reversed_:
            problems.append(FieldError(name, f"outcome {entry_id} has been reversed"))
        elif entry_id in held:
            holder = held[entry_id]
            conflicts.append(
                FieldError(
                    name,
                    f"outcome {entry_id} is already {HELD[holder.status]} conversion "
                    f"{holder.application_id}",
                )
            )
        else:
            wanted.append(entry)
    facts = facts_of_all(session, wanted)
    return [facts[entry.id] for entry in wanted], problems, conflicts


def facts_of(session: Session, entry: LedgerEntry) -> rules.Facts:
    """What a rule may look at of a deposited outcome: its deposit's data, or its record."""
    return facts_of_all(session, [entry])[entry.id]


def facts_of_all(session: Session, entries: Sequence[LedgerEntry]) -> dict[int, rules.Facts]:
    """``facts_of`` each outcome, by ledger entry, in two statements whatever their number:
    the import records at once, and the latest version of every deposit at once."""
    record_ids = {e.import_record_id for e in entries if e.import_record_id is not None}
    deposits = {e.application_id for e in entries if e.import_record_id is None}
    records = (
        {
            r.id: r
            for r in session.scalars(select(ImportRecord).where(ImportRecord.id.in_(record_ids)))
        }
        if record_ids
        else {}
    )
    latest: dict[uuid.UUID | None, ApplicationVersion] = (
        {
            v.application_id: v
            for v in session.scalars(
                select(ApplicationVersion)
                .where(ApplicationVersion.application_id.in_(deposits))
                .order_by(ApplicationVersion.application_id, ApplicationVersion.version.desc())
                .ext(distinct_on(ApplicationVersion.application_id))  # the latest of each
            )
        }
        if deposits
        else {}
    )
    found = {}
    for entry in entries:
        if entry.import_record_id is not None:
            found[entry.id] = _record_facts(entry, records[entry.import_record_id])
        else:
            found[entry.id] = _deposit_facts(entry, latest[entry.application_id])
    return found


def _record_facts(entry: LedgerEntry, record: ImportRecord) -> rules.Facts:
    return rules.Facts(
        entry_id=entry.id,
        kind="social_training",
        on=record.end_date.isoformat(),
        hours=str(record.hours),
        organiser=record.organiser,
        title=record.programme,
    )


def _deposit_facts(entry: LedgerEntry, version: ApplicationVersion) -> rules.Facts:
    data = version.data
    return rules.Facts(
        entry_id=entry.id,
        kind=entry.outcome_kind,
        on=next((data[k] for k in DATE_FIELDS if data.get(k)), None),
        hours=str(data.get("hours") or "0"),
        credits=str(data.get("credits") or "0"),
        catalogue_code=data.get("catalogue_code"),
        level=data.get("level"),
        organiser=data.get("organiser"),
        institution=data.get("institution"),
        course_code=data.get("course_code"),
        score=_score(data.get("grade")),
        title=entry.description,
        evidence=tuple(version.attachments),
    )


def _score(grade: Any) -> str | None:
    try:
        return str(Decimal(str(grade))) if grade not in (None, "") else None
    except ArithmeticError:
        return None


def _unconverted(applied: list[rules.Applied], request: Request) -> list[FieldError]:
    """Outcomes no rule takes, with the reason (unless an expert judgement is asked for)."""
    if request.expert_credits is not None:
        return []
    problems = []
    for index, a in enumerate(applied):
        if a.rule is not None:
            continue
        reasons = "; ".join(reason for _, _, reason in a.candidates if reason)
        problems.append(
            FieldError(
                f"outcomes.{index}",
                f"condition not met: {reasons}"
                if reasons
                else "no rule of the standard converts this outcome to the target "
                "(an expert judgement may be asked for)",
            )
        )
    return problems


def _credits(applied: list[rules.Applied], request: Request) -> Decimal:
    if request.expert_credits is not None:
        return request.expert_credits
    return sum((a.credits for a in applied), Decimal(0))


def _shares(applied: list[rules.Applied], request: Request, total: Decimal) -> list[Decimal]:
    """Each outcome's part of the credits: its rule's, or an even part of an expert's."""
    if request.expert_credits is None or not applied:
        return [a.credits for a in applied]
    part = (total / len(applied)).quantize(Decimal("0.1"))
    return [total - part * (len(applied) - 1), *[part] * (len(applied) - 1)]


def apply(
    session: Session, ctx: IntakeContext, principal: Principal, request: Request
) -> Application:
    """Take the conversion application: its snapshot pinned, its outcomes reserved."""
    weighed = _weighed_to_take(session, ctx, principal, request)
    data = weighed.snapshot(session)
    evidence = sorted({sha for a in weighed.applied for sha in a.facts.evidence})
    application = handoff.take(
        session, principal, ApplicationKind.CONVERSION, weighed.account, data, evidence
    )
    session.flush()
    _reserve(session, application, weighed)
    return application


def _weighed_to_take(
    session: Session, ctx: IntakeContext, principal: Principal, request: Request
) -> Weighed:
    if request.expert_credits is not None and not (request.expert_reason or "").strip():
        raise ValidationProblem(
            "an expert judgement says why", [FieldError("expert.reason", "required")]
        )
    weighed = weigh(session, ctx, principal, request, lock=True)
    if weighed.conflicts:
        raise Conflict("an outcome is held by another conversion", weighed.conflicts)
    if weighed.problems:
        raise ValidationProblem(
            "the conversion cannot be applied for as it stands", weighed.problems
        )
    return weighed


def _reserve(session: Session, application: Application, weighed: Weighed) -> None:
    shares = _shares(weighed.applied, weighed.request, weighed.credits)
    year = next((c for c in weighed.version.caps if c.get("kind") == "per_year"), None)
    start = caps.year_start(
        weighed.applied_on, year.get("year_starts", "01-01") if year else "01-01"
    )
    rows = [
        {
            "ledger_entry_id": a.facts.entry_id,
            "application_id": application.id,
            "learner_id": weighed.learner.id,
            "status": ReservationStatus.RESERVED,
            "credits": share,
            "year_start": start,
            "target_institution": weighed.request.institution,
            "target_programme": weighed.request.programme,
            "certificate": a.facts.kind in rules.CERTIFICATE_KINDS,
        }
        for a, share in zip(weighed.applied, shares, strict=True)
    ]
    if not rows:
        return
    # One statement for every outcome: one already held by a live reservation (taken by
    # another conversion this very instant, past the learner's lock) is left out, not
    # inserted, and named.
    taken = set(
        session.scalars(
            pg_insert(Reservation)
            .values(rows)
            .on_conflict_do_nothing(
                index_elements=[Reservation.ledger_entry_id],
                index_where=text("status <> 'released'"),  # uq_conversion_reservations_held
            )
            .returning(Reservation.ledger_entry_id)
        )
    )
    missed = [row["ledger_entry_id"] for row in rows if row["ledger_entry_id"] not in taken]
    if missed:
        raise Conflict(
            "an outcome is held by another conversion",
            [
                FieldError("outcomes", f"outcome {entry} was reserved a moment ago")
                for entry in missed
            ],
        )


def resubmit(
    session: Session,
    ctx: IntakeContext,
    principal: Principal,
    application: Application,
    request: Request,
) -> tuple[dict[str, Any], list[str]]:
    """A returned conversion corrected: its reservations given back, the corrected one
    weighed and reserved again; the new version's data and evidence."""
    _set(session, application.id, ReservationStatus.RESERVED, ReservationStatus.RELEASED)
    session.flush()
    weighed = _weighed_to_take(session, ctx, principal, request)
    _reserve(session, application, weighed)
    evidence = sorted({sha for a in weighed.applied for sha in a.facts.evidence})
    return weighed.snapshot(session), evidence


def _set(
    session: Session, application_id: uuid.UUID, was: ReservationStatus, now: ReservationStatus
) -> None:
    session.execute(
        update(Reservation)
        .where(Reservation.application_id == application_id, Reservation.status == was)
        .values(status=now)
    )


def on_approved(session: Session, application: Application, account: Account) -> None:
    """The final approval: the outcomes consumed, the credits posted to the ledger once
    (however often the decision is delivered), citing what they stand on."""
    _set(session, application.id, ReservationStatus.RESERVED, ReservationStatus.CONSUMED)
    data = session.scalars(
        select(ApplicationVersion.data).where(
            ApplicationVersion.application_id == application.id,
            ApplicationVersion.version == application.version,
        )
    ).one()
    target = data["target"]
    basis = {
        "standard": data["standard"],
        "outcomes": [
            {
                "entry_id": o["entry_id"],
                "rule": (o["rule"] or {}).get("number"),
                "credits": o["credits"],
            }
            for o in data["outcomes"]
        ],
        "expert": data.get("expert"),
    }
    posting.post(
        session,
        posting.Posting(
            account_id=account.id,
            entry_kind=EntryKind.CONVERSION,
            application_id=application.id,
            unit_path=application.unit_path,
            outcome_kind="conversion",
            credits=Decimal(data["credits"]),
            hours=Decimal(0),
            description=_described(data)[:200],
            target_institution=target["institution"]["code"],
            target_programme=target["programme"]["code"],
            basis=basis,
        ),
    )


def _described(data: dict[str, Any]) -> str:
    standard = data["standard"]
    return f"{data['target']['programme']['name']}（{standard['code']} 第{standard['version']}版）"


def on_ended(session: Session, application: Application) -> None:
    """Rejected or withdrawn: its outcomes are free again."""
    _set(session, application.id, ReservationStatus.RESERVED, ReservationStatus.RELEASED)


def reverse(
    session: Session, principal: Principal, application_id: uuid.UUID, reason: str
) -> LedgerEntry:
    """An approved conversion taken back (e.g. its outcome was found false): a reversal entry
    of the same credits, never an edit of the posting; its outcomes stay consumed (they
    cannot be converted again) but count toward no cap. Audited."""
    require_corrector(principal, "a conversion")
    application = get_visible(session, principal, application_id, lock=True)
    if (
        application.kind != ApplicationKind.CONVERSION
        or application.status != ApplicationStatus.APPROVED
    ):
        raise InvalidState(
            f"application {application_id} is not an approved conversion",
            current_state=application.status.value,
        )
    posted = session.scalars(
        posting.of_application(application_id, EntryKind.CONVERSION, EntryKind.REVERSAL)
    ).all()
    if any(e.entry_kind == EntryKind.REVERSAL for e in posted):
        raise Conflict(f"conversion {application_id} is already reversed")
    original = next(e for e in posted if e.entry_kind == EntryKind.CONVERSION)
    reversal = posting.reverse(session, original, reason)
    _set(session, application_id, ReservationStatus.CONSUMED, ReservationStatus.REVERSED)
    relying.suspend(session, principal, [original.id], f"所依据的学分转换已冲销：{reason}")
    timeline.event(
        session, application, "reversed", principal.staff_id, principal.username, reason=reason
    )
    audit.record(
        session,
        principal,
        "conversion.reversed",
        str(application_id),
        {"credits": str(original.credits), "reason": reason},
    )
    session.flush()
    return reversal
