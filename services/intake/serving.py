"""A learner is served at any window in the province: found by the document they present,
their account reached through a reference issued to that window, its number shown in full
only within its home subtree (the point that opened it and the units above).

One learner, one account: the account belongs to the point that opened it, but any
OPERATING point may take the learner's applications once the learner has presented their
document there. Presenting it (``find``) gives the window an *account reference*, an opaque
token naming the account and the window's unit, signed with the personal-data hash key and
valid for ``account_ref_ttl`` seconds; with it the window reads the account and takes
deposits into it. Each application climbs the tree of the point that took it. A bulk import
matches learners by document across the province under the same rule.
"""

from __future__ import annotations

import base64
import hmac
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, func, literal, select
from sqlalchemy.orm import Session

from services.intake.context import IntakeContext
from services.intake.models import Account, AccountStatus, Application, ApplicationKind, Learner
from services.intake.scope import require_window_staff
from shared.auth import Principal
from shared.errors import FieldError, Forbidden, NotFound, ValidationProblem
from shared.identity import IdentityError, parse_identity
from shared.pii import mask_account_number

REF_PREFIX = "ar1."


@dataclass(frozen=True)
class Found:
    account: Account
    learner: Learner
    account_ref: str
    ref_expires_at: datetime
    opening_application_id: Any  # the opening still in review, when the account is pending


def document_hash(ctx: IntakeContext, document_type: str, number: str) -> str:
    """The learner's keyed lookup hash for a document, after the document's own rule."""
    try:
        identity = parse_identity(document_type, number)
    except IdentityError as exc:
        raise ValidationProblem(
            "the document is not valid", [FieldError(exc.field, exc.reason)]
        ) from None
    return ctx.cipher.lookup_hash(f"document:{identity.document_type.value}", identity.number)


def find(
    session: Session, ctx: IntakeContext, principal: Principal, document_type: str, number: str
) -> Found:
    """The learner holding the document and their account. A window (service staff of an
    OPERATING point) finds any learner in the province; other staff, their subtree's."""
    row = session.execute(
        select(Account, Learner)
        .join(Learner, Learner.id == Account.learner_id)
        .where(Learner.document_hash == document_hash(ctx, document_type, number))
    ).first()
    if row is None or not (is_window(principal) or principal.covers(row[0].unit_path)):
        raise NotFound("no learning account holds this document")
    account, learner = row[0], row[1]
    ref, expires = issue_ref(ctx, account.id, principal.unit_code)
    return Found(account, learner, ref, expires, _opening_under_way(session, account))


def is_window(principal: Principal) -> bool:
    try:
        require_window_staff(principal)
    except Forbidden:
        return False
    return True


def _opening_under_way(session: Session, account: Account) -> Any:
    if account.status != AccountStatus.PENDING:
        return None
    return session.scalar(
        select(Application.id)
        .where(
            Application.account_id == account.id,
            Application.kind == ApplicationKind.ACCOUNT_OPENING,
        )
        .order_by(Application.created_at.desc())
    )


def issue_ref(ctx: IntakeContext, account_id: int, unit_code: str) -> tuple[str, datetime]:
    """A reference to the account for the staff of ``unit_code``, until it expires."""
    expires = int(time.time()) + ctx.settings.account_ref_ttl
    payload = f"{account_id}:{unit_code}:{expires}"
    body = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
    return f"{REF_PREFIX}{body}.{_mac(ctx, payload)}", datetime.fromtimestamp(expires, UTC)


def _mac(ctx: IntakeContext, payload: str) -> str:
    return ctx.cipher.lookup_hash("account-ref", payload)[:32]


def _account_of_ref(ctx: IntakeContext, principal: Principal, ref: str) -> int:
    """The account id a reference names, if it was issued to the caller's unit and lives."""
    try:
        body, mac = ref[len(REF_PREFIX) :].split(".")
        payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
        account_id, unit_code, expires = payload.split(":")
        genuine = hmac.compare_digest(mac, _mac(ctx, payload))
        alive = int(expires) > time.time() and unit_code == principal.unit_code
        if genuine and alive:
            return int(account_id)
    except ValueError:  # not base64, not UTF-8, not three parts, not numbers
        pass
    raise NotFound("this account reference is not valid here (expired, or another window's)")


def reach(
    session: Session, ctx: IntakeContext, principal: Principal, account: str
) -> tuple[Account, Learner]:
    """The account named by its number (within the caller's subtree) or by a reference."""
    query = select(Account, Learner).join(Learner, Learner.id == Account.learner_id)
    if account.startswith(REF_PREFIX):
        row = session.execute(
            query.where(Account.id == _account_of_ref(ctx, principal, account))
        ).first()
    else:
        row = session.execute(query.where(Account.number == account)).first()
        if row is not None and not principal.covers(row[0].unit_path):
            row = None
    if row is None:
        named = "" if account.startswith(REF_PREFIX) else f" {account}"
        raise NotFound(f"learning account{named} not found")
    return row[0], row[1]


def shown_number(principal: Principal, account: Account | None) -> str | None:
    """The account's number as the caller may see it: whole within its home subtree."""
    if account is None or account.number is None:
        return None
    if principal.covers(account.unit_path):
        return account.number
    return mask_account_number(account.number)


def shown_number_sql(principal: Principal) -> Any:
    """``shown_number`` as a column of a listing (``mask_account_number`` in SQL)."""
    masked = func.concat(
        func.left(Account.number, 2),
        func.repeat(literal("*"), func.length(Account.number) - 6),
        func.right(Account.number, 4),
    )
    return case(
        (Account.unit_path.startswith(principal.unit_path, autoescape=True), Account.number),
        else_=masked,
    )
