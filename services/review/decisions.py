"""People deciding: claims, and decisions that pass an application up or finish it.

Every decision is a guarded update (only a pending case, or one the caller has claimed, can
be decided) that writes its next messages to the outbox in the same transaction.
"""

from __future__ import annotations

import uuid
from bisect import bisect_right
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.review import routing
from services.review.models import OPEN_STATUSES, AuditRecord, Case, CaseStatus, Decision, Outbox
from shared import contracts, outbox, tracing
from shared.auth import Principal
from shared.clock import china_time
from shared.db import utcnow
from shared.errors import FieldError, Forbidden, InvalidState, NotFound, ValidationProblem
from shared.levels import Level, review_queue

DECISIONS = tuple(d.value for d in Decision)
# What a decision means for the application, as intake is told (``ApplyDecision.outcome``).
OUTCOME = {Decision.APPROVE: "approved", Decision.REJECT: "rejected", Decision.RETURN: "returned"}


def _audit(session: Session, principal: Principal, action: str, case: Case, **detail: Any) -> None:
    session.add(
        AuditRecord(
            actor_id=principal.staff_id,
            actor=principal.username,
            action=action,
            case_id=case.id,
            application_id=case.application_id,
            level=case.level.value,
            unit_code=case.unit_code,
            detail=detail,
        )
    )


def own_case(session: Session, principal: Principal, case_id: uuid.UUID) -> Case:
    """A case of the caller's own unit, locked; any other is 404."""
    case = session.get(Case, case_id, with_for_update=True)
    if case is None or case.unit_code != principal.unit_code:
        raise NotFound(f"case {case_id} not found")
    if not principal.has_any("reviewer"):
        raise Forbidden("deciding cases needs the reviewer role")
    return case


def seen_case(session: Session, principal: Principal, case_id: uuid.UUID) -> Case | None:
    """The case as the caller may see it (a reviewer's own unit's), or None: what a refused
    decision among many is reported with, so the reviewer learns which case it was and who
    decided it meanwhile."""
    case = session.get(Case, case_id)
    if case is None or case.unit_code != principal.unit_code:
        return None
    return case if principal.has_any("reviewer") else None


def _claimed_by_other(case: Case, principal: Principal) -> bool:
    return (
        case.status == CaseStatus.CLAIMED
        and case.claimed_by_id != principal.staff_id
        and case.claim_expires_at is not None
        and case.claim_expires_at > utcnow()
    )


def _require_open(case: Case, principal: Principal, step: str) -> None:
    if case.status not in OPEN_STATUSES:
        raise InvalidState(
            f"case {case.id} is {case.status.value}; it cannot be {step}",
            current_state=case.status.value,
        )
    until = case.claim_expires_at
    if until is not None and _claimed_by_other(case, principal):
        raise InvalidState(
            f"case {case.id} is claimed by {case.claimed_by} until {china_time(until)} "
            "(China time)",
            current_state=case.status.value,
        )


def claim(session: Session, principal: Principal, case_id: uuid.UUID, seconds: int) -> Case:
    """Claim a case so no one else decides it meanwhile; the claim expires by itself."""
    case = own_case(session, principal, case_id)
    _require_open(case, principal, "claimed")
    case.status = CaseStatus.CLAIMED
    case.claimed_by_id, case.claimed_by = principal.staff_id, principal.username
    case.claim_expires_at = utcnow() + timedelta(seconds=seconds)
    _audit(session, principal, "claim", case, expires_at=case.claim_expires_at.isoformat())
    return case


def release(session: Session, principal: Principal, case_id: uuid.UUID) -> Case:
    case = own_case(session, principal, case_id)
    if case.status != CaseStatus.CLAIMED or case.claimed_by_id != principal.staff_id:
        raise InvalidState(f"case {case.id} is not claimed by you", current_state=case.status.value)
    case.status, case.claimed_by_id, case.claimed_by, case.claim_expires_at = (
        CaseStatus.PENDING,
        None,
        None,
        None,
    )
    _audit(session, principal, "release", case)
    return case


def _may_approve(session: Session, principal: Principal, case: Case) -> None:
    if case.taken_by_id == principal.staff_id:
        raise Forbidden("the staff member who took the application cannot approve it")
    again = session.scalar(
        select(Case.level)
        .where(
            Case.application_id == case.application_id,
            Case.id != case.id,
            Case.decided_by_id == principal.staff_id,
            Case.decision == Decision.APPROVE,
        )
        .limit(1)
    )
    if again is not None:
        raise Forbidden(f"you approved this application at the {again.value} level already")


def decide(
    session: Session,
    principal: Principal,
    case_id: uuid.UUID,
    decision: str,
    reason: str | None,
    rejected_rows: list[dict[str, Any]] | None = None,
) -> Case:
    """Approve (pass up, or finish at the route's last level), reject or return a case. An
    import's batch is approved (less any ``rejected_rows``, each with its reason) or rejected
    whole; it cannot be returned, as a file cannot be corrected in place."""
    case = own_case(session, principal, case_id)
    _require_open(case, principal, "decided")
    if decision != "approve" and not (reason or "").strip():
        raise ValidationProblem(
            f"a reason is required to {decision}", [FieldError("reason", f"required to {decision}")]
        )
    _check_rows(case, decision, rejected_rows or [])
    if decision == "approve":
        _may_approve(session, principal, case)
    case.status, case.decision, case.reason = CaseStatus.DECIDED, Decision(decision), reason
    case.rejected_rows = rejected_rows or None
    case.decided_by_id, case.decided_by, case.decided_at = (
        principal.staff_id,
        principal.username,
        utcnow(),
    )
    case.decided_unit_name = principal.unit_name
    case.closed_at = case.decided_at
    _audit(
        session,
        principal,
        "decide",
        case,
        decision=decision,
        reason=reason,
        **({"rejected_rows": rejected_rows} if rejected_rows else {}),
    )
    # The decision's trace (this request's) is a trace of its own: it leads back to the one
    # that opened the case, so one application is followed from trace to trace.
    tracing.link_to(case.traceparent)
    _send_on(session, case)
    return case


def _check_rows(case: Case, decision: str, rows: list[dict[str, Any]]) -> None:
    """Rows may be rejected only from a batch being approved, and only rows that are its
    records, each once."""
    if case.batch is None:
        if rows:
            raise ValidationProblem(
                "only an import's batch has rows to reject",
                [FieldError("rejected_rows", "this case is not an import's batch")],
            )
        return
    if decision == "return":
        raise ValidationProblem(
            "a batch is approved or rejected; a file cannot be returned for correction",
            [FieldError("decision", "approve (rejecting rows if need be) or reject a batch")],
        )
    if rows and decision != "approve":
        raise ValidationProblem(
            "rows are rejected while approving the rest; rejecting the batch rejects them all",
            [FieldError("rejected_rows", "only with decision approve")],
        )
    runs = case.batch["record_rows"]  # sorted, disjoint [first, last]
    firsts = [first for first, _ in runs]
    seen: set[int] = set()
    errors = []
    for i, item in enumerate(rows):
        row = item["row"]
        at = bisect_right(firsts, row) - 1  # the run that would hold it
        if row in seen:
            errors.append(FieldError(f"rejected_rows.{i}.row", f"row {row} is named twice"))
        elif at < 0 or row > runs[at][1]:
            errors.append(
                FieldError(f"rejected_rows.{i}.row", f"row {row} is not a record of this batch")
            )
        seen.add(row)
    if errors:
        raise ValidationProblem("some rows cannot be rejected", errors)


def _send_on(session: Session, case: Case) -> None:
    """The decision's messages: the next level's case, or the end of the round for intake
    and notify."""
    following = None
    if case.decision == Decision.APPROVE:
        following = routing.next_level(case.point_path, case.level, case.top_level)
    if following is not None:
        send_up(session, case, following)
    send_outcome(session, case, passed_up=following is not None)


def send_up(session: Session, case: Case, level: Level) -> None:
    """Ask ``level``'s queue to open the case that follows an approved ``case``."""
    outbox.enqueue(
        session, Outbox, "review.open_case", next_case(case, level), queue=review_queue(level)
    )


def send_outcome(session: Session, case: Case, passed_up: bool) -> None:
    """Tell intake what the case's decision means for the application; when the round ends
    here (approved at the last level, rejected, returned), tell notify too."""
    if case.decision is None:
        raise ValueError(f"case {case.id} is not decided; it has no outcome to send")
    outcome = "passed_up" if passed_up else OUTCOME[case.decision]
    decided_at = (case.decided_at or utcnow()).isoformat()
    outbox.enqueue(
        session,
        Outbox,
        "intake.apply_decision",
        {
            "application_id": str(case.application_id),
            "round": case.round,
            "level": case.level.value,
            "outcome": outcome,
            "decided_by_id": case.decided_by_id,
            "decided_by": case.decided_by,
            "decided_at": decided_at,
            "unit_code": case.unit_code,
            "unit_name": case.decided_unit_name,
            "reason": case.reason,
            "rejected_rows": case.rejected_rows or [],
        },
    )
    if passed_up:
        return
    outbox.enqueue(
        session,
        Outbox,
        "notify.deliver",
        {
            "event_type": "review.application_decided",
            "occurred_at": decided_at,
            "unit_code": case.point_code,
            "unit_path": case.point_path,
            # The reviewer who ended the round has it on record in their own inbox too.
            "recipient_staff_ids": [case.decided_by_id] if case.decided_by_id else [],
            "data": {
                key: value
                for key, value in {
                    "application_id": str(case.application_id),
                    "round": case.round,
                    "kind": case.kind,
                    "outcome_kind": case.outcome_kind,
                    "outcome": outcome,
                    "level": case.level.value,
                    "reason": case.reason,
                }.items()
                if value is not None
            },
        },
    )


def next_case(case: Case, level: Level) -> dict[str, Any]:
    """The ``review.open_case`` of the level above, for an approved ``case``: the round's
    route version and last level go with it (the next level need not find them again)."""
    return {
        "route_version": case.route_version,
        "top_level": case.top_level.value,
        **_review_request(case, level),
    }


def _review_request(case: Case, level: Level) -> dict[str, Any]:
    return contracts.review_request(
        application_id=case.application_id,
        round=case.round,
        level=level,
        kind=case.kind,
        outcome_kind=case.outcome_kind,
        unit_code=case.point_code,
        unit_path=case.point_path,
        taken_by_id=case.taken_by_id,
        credits=case.credits,
        hours=case.hours,
        certificate_number=case.certificate_number,
        attachments=case.attachments,
        dates=case.dates,
        submitted_at=case.submitted_at,
        batch=case.batch,
        expert=case.expert,
    )
