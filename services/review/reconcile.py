"""Reconciliation: what a lost message left undone, found and done again.

Intake periodically sends the applications it has had in review for a while
(``review.reconcile``). For each one's round, review finds where it stands:

- no case at all: the first case is opened now (its ``review.open_case`` was lost);
- a case still open: nothing to do, people are on it;
- an approval whose next level has no case: the next level's message is sent again;
- a decision that ended the round (intake still thinks it is in review): intake's and
  notify's messages are sent again;
- a round intake withdrew (within the last day): its cases still open are closed.

Every step is idempotent on the receiving side (one case per application, level and round;
intake ignores a decision for a round that is no longer in review), so a message that was
only late, not lost, does no harm when it arrives after its replacement.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.review import cases, routing
from services.review.context import ReviewContext
from services.review.decisions import send_outcome, send_up
from services.review.models import OPEN_STATUSES, Case, CaseStatus, Decision
from shared import messages
from shared.levels import LEVEL_ORDER


def reconcile(
    session: Session, ctx: ReviewContext, applications: list[messages.ReviewRequest]
) -> Counter[str]:
    """Bring review in line with intake's applications in review; count what was done."""
    found: dict[tuple[Any, int], list[Case]] = defaultdict(list)
    ids = [a["application_id"] for a in applications]
    for case in session.scalars(select(Case).where(Case.application_id.in_(ids))):
        found[(case.application_id, case.round)].append(case)
    done: Counter[str] = Counter()
    for request in applications:
        round_cases = found.get((request["application_id"], request["round"]), [])
        done[_reconcile_one(session, ctx, request, round_cases)] += 1
    return done


def _reconcile_one(
    session: Session, ctx: ReviewContext, request: messages.ReviewRequest, round_cases: list[Case]
) -> str:
    if request.get("withdrawn"):
        closed = 0
        if round_cases:
            closed = cases.withdraw(session, request["application_id"], request["round"])
        return "withdrawal_applied" if closed else "withdrawn"
    if not round_cases:
        opened = cases.open_case(session, ctx, request)
        return "first_case_opened" if opened else "no_unit"
    if any(c.status in OPEN_STATUSES for c in round_cases):
        return "in_review"
    latest = max(round_cases, key=lambda c: LEVEL_ORDER.index(c.level))
    if latest.status == CaseStatus.WITHDRAWN:
        return "withdrawn"
    if latest.decision == Decision.APPROVE:
        following = routing.next_level(latest.point_path, latest.level, latest.top_level)
        if following is not None:
            send_up(session, latest, following)
            return "next_level_resent"
    send_outcome(session, latest, passed_up=False)
    return "outcome_resent"
