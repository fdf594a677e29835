"""Staff accounts: creation within scope, passwords, sign-in and tokens, deactivation."""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NoReturn

from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from services.org import audit, families, throttle
from services.org.context import OrgContext
from services.org.models import PointState, RefreshToken, Role, Staff, TokenFamily, Unit
from services.org.tree import get_visible, under
from shared.auth import Principal
from shared.db import utcnow
from shared.errors import (
    Conflict,
    FieldError,
    Forbidden,
    InvalidToken,
    Unauthorized,
    ValidationProblem,
)
from shared.levels import Level

log = logging.getLogger(__name__)

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
PASSWORD_MIN, PASSWORD_MAX = 10, 128
ROLES_BY_LEVEL = {
    Level.PROVINCE: {Role.ADMIN, Role.MANAGEMENT, Role.REVIEWER},
    Level.BRANCH: {Role.ADMIN, Role.MANAGEMENT, Role.REVIEWER, Role.BUREAU},
    Level.SUBCENTRE: {Role.ADMIN, Role.MANAGEMENT, Role.REVIEWER, Role.BUREAU},
    # An acceptance point's admin comes only from allocation and activation.
    Level.ACCEPTANCE_POINT: {Role.MANAGEMENT, Role.TECHNICAL, Role.SERVICE, Role.REVIEWER},
}


def roles_at(level: Level) -> list[str]:
    """The roles a staff account of a unit at ``level`` may hold, in the order of ``Role``."""
    return [role.value for role in Role if role in ROLES_BY_LEVEL[level]]


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type, not a secret


def digest(secret: str) -> str:
    """SHA-256 of a high-entropy random secret (tokens, codes): enough, and indexable."""
    return hashlib.sha256(secret.encode()).hexdigest()


def check_password(password: str, field: str = "password") -> None:
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise ValidationProblem(
            "the password does not meet the policy",
            [FieldError(field, f"must be {PASSWORD_MIN} to {PASSWORD_MAX} characters long")],
        )
    if password.isdigit() or password.isalpha():
        raise ValidationProblem(
            "the password does not meet the policy",
            [FieldError(field, "must mix letters with digits or symbols")],
        )


def canonical_username(username: str) -> str:
    """The form usernames are stored, looked up and throttled in."""
    return username.strip().lower()


def normalise_username(username: str, field: str = "username") -> str:
    """The username as stored; refused, naming ``field`` (the request's own name for it),
    when it is not one."""
    name = canonical_username(username)
    if not USERNAME.match(name):
        raise ValidationProblem(
            "the username is not valid",
            [FieldError(field, "3-64 of a-z, 0-9, '.', '_' or '-', starting alphanumeric")],
        )
    return name


INVALID_REFRESH = "the refresh token is not valid"
REVOKED_SIGN_IN = "this sign-in has been revoked; sign in again"


class RefreshReused(Unauthorized):
    """A spent refresh token came back: two parties hold the sign-in, so its family is
    revoked. The view commits that, though it answers 401."""

    def __init__(self, family_id: str) -> None:
        super().__init__(INVALID_REFRESH)
        self.family_id = family_id


def principal_of(staff: Staff, unit: Unit, family_id: str | None = None) -> Principal:
    return Principal(
        staff.id,
        staff.username,
        unit.code,
        unit.path,
        unit.level.value,
        frozenset(staff.roles),
        unit.state.value if unit.state else None,
        family_id,
        unit.name,
    )


def acting_staff(session: Session, principal: Principal) -> None:
    """Refuse a deactivated account, a revoked sign-in or a suspended point's staff (one
    query per request)."""
    family_id = uuid.UUID(principal.family_id) if principal.family_id else None
    family = select(TokenFamily.revoked_at).where(TokenFamily.id == family_id)
    row = session.execute(
        select(Staff.active, Unit.state, Unit.code, family.scalar_subquery().label("revoked"))
        .join(Unit, Unit.code == Staff.unit_code)
        .where(Staff.id == principal.staff_id)
    ).first()
    if row is None or not row.active:
        raise InvalidToken("this account is deactivated")
    if row.revoked is not None:
        raise InvalidToken(REVOKED_SIGN_IN)
    if row.state == PointState.SUSPENDED:
        raise Forbidden(f"acceptance point {row.code} is suspended; its staff cannot act")


def _verify(ctx: OrgContext, staff: Staff | None, password: str) -> bool:
    if staff is None or staff.password_hash is None:
        # Spend the same time as a real check, so timing does not reveal usernames.
        ctx.passwords.hash(password)
        return False
    try:
        return bool(ctx.passwords.verify(staff.password_hash, password))
    except (VerificationError, InvalidHashError):
        return False


def _usable(session: Session, staff: Staff) -> Unit:
    if not staff.active:
        raise Forbidden("this account is deactivated")
    unit = session.get_one(Unit, staff.unit_code)
    if unit.state == PointState.SUSPENDED:
        raise Forbidden(f"acceptance point {unit.code} is suspended; its staff cannot sign in")
    return unit


def login(
    session: Session, ctx: OrgContext, username: str, password: str, address: str | None
) -> TokenPair:
    """Exchange a username and password, sent from ``address``, for an access token and a
    refresh token."""
    # Throttled as looked up: ' Name' and 'name' are one account, so one count of failures.
    name = canonical_username(username)
    attempt = throttle.source(ctx, name, address)
    staff = session.scalar(select(Staff).where(Staff.username == name))
    throttle.check(ctx, attempt, staff.id if staff else None)
    if not _verify(ctx, staff, password):
        throttle.failed(ctx, attempt)
        raise Unauthorized("the username or password is wrong")
    assert staff is not None
    unit = _usable(session, staff)
    throttle.succeeded(ctx, attempt)
    return _issue(session, ctx, staff, unit, families.start(session, staff.id))


def _issue(
    session: Session, ctx: OrgContext, staff: Staff, unit: Unit, family: TokenFamily
) -> TokenPair:
    refresh = secrets.token_urlsafe(32)
    session.add(
        RefreshToken(
            staff_id=staff.id,
            family_id=family.id,
            token_hash=digest(refresh),
            expires_at=utcnow() + timedelta(seconds=ctx.settings.refresh_token_ttl),
        )
    )
    access = ctx.issuer.issue(principal_of(staff, unit, str(family.id)))
    return TokenPair(access, refresh, ctx.settings.access_token_ttl)


def refresh(session: Session, ctx: OrgContext, token: str) -> TokenPair:
    """Rotate a refresh token: the old one is spent, a new pair is issued in its family.
    A spent one used again revokes the family (``RefreshReused``)."""
    found = families.locked(session, digest(token))
    if found is None:
        raise Unauthorized(INVALID_REFRESH)
    family, row = found
    if family.revoked_at is not None or row.expires_at <= utcnow():
        raise Unauthorized(INVALID_REFRESH)
    if row.revoked_at is not None:
        _reused(session, family)
    row.revoked_at = utcnow()
    staff = session.get_one(Staff, row.staff_id)
    return _issue(session, ctx, staff, _usable(session, staff), family)


def _reused(session: Session, family: TokenFamily) -> NoReturn:
    families.revoke(session, [family.id], "reuse")
    staff = session.get_one(Staff, family.staff_id)
    unit = session.get_one(Unit, staff.unit_code)
    log.warning(
        "a spent refresh token was used again; its sign-in is revoked",
        extra={"staff_id": staff.id, "family_id": str(family.id)},
    )
    audit.record(
        session, None, "auth.refresh_reuse", unit, target=staff.username, family_id=str(family.id)
    )
    raise RefreshReused(str(family.id))


def revoke(session: Session, token: str) -> str | None:
    """Sign out: the refresh token's family is revoked, with every access token issued from
    it. Returns the family's id if this revoked it (a token not known changes nothing)."""
    found = families.locked(session, digest(token))
    if found is None or found[0].revoked_at is not None:
        return None
    families.revoke(session, [found[0].id], "sign_out")
    return str(found[0].id)


def _check_roles(unit: Unit, roles: list[str]) -> list[str]:
    allowed = {r.value for r in ROLES_BY_LEVEL[unit.level]}
    wrong = sorted(set(roles) - allowed)
    if wrong or not roles:
        reason = (
            f"not allowed at a {unit.level.value}: {', '.join(wrong)}; allowed: "
            f"{', '.join(sorted(allowed))}"
            if wrong
            else "at least one role is required"
        )
        raise ValidationProblem("the roles do not fit the unit", [FieldError("roles", reason)])
    return sorted(set(roles))


def _may_create_in(actor: Principal, unit: Unit) -> None:
    if unit.level == Level.ACCEPTANCE_POINT:
        if actor.unit_code != unit.code or not actor.has_any(Role.ADMIN):
            raise Forbidden("only the acceptance point's own admin registers its staff")
        if unit.state not in (PointState.ACTIVE, PointState.OPERATING):
            from shared.errors import InvalidState

            raise InvalidState(
                f"acceptance point {unit.code} is {unit.state}; staff are registered once "
                "it is ACTIVE",
                current_state=str(unit.state),
            )
    elif not actor.has_any(Role.ADMIN):
        raise Forbidden("only an admin creates staff accounts")


def create_staff(
    session: Session,
    ctx: OrgContext,
    actor: Principal,
    username: str,
    display_name: str,
    unit_code: str,
    roles: list[str],
    password: str,
) -> Staff:
    """Create a staff account in ``unit_code``, which must lie in the actor's subtree."""
    unit = get_visible(session, actor, unit_code)
    _may_create_in(actor, unit)
    name = normalise_username(username)
    check_password(password)
    role_list = _check_roles(unit, roles)
    if session.scalar(select(Staff.id).where(Staff.username == name)) is not None:
        raise Conflict(f"username {name} is taken", [FieldError("username", "already taken")])
    staff = Staff(
        username=name,
        display_name=display_name,
        unit_code=unit.code,
        roles=role_list,
        password_hash=ctx.passwords.hash(password),
        created_by=actor.staff_id,
    )
    session.add(staff)
    session.flush()
    audit.record(session, actor, "staff.created", unit, target=name, roles=role_list)
    return staff


def staff_query(principal: Principal, unit_code: str | None, q: str | None) -> Select[Any]:
    """Staff of the caller's subtree in the order they were created: of ``unit_code`` only,
    and whose username or name holds ``q``, when given."""
    query = (
        select(Staff)
        .join(Unit, Unit.code == Staff.unit_code)
        .where(under(principal.unit_path))
        .order_by(Staff.id)
    )
    if unit_code:
        query = query.where(Staff.unit_code == unit_code)
    if q:
        query = query.where(
            Staff.username.icontains(q, autoescape=True)
            | Staff.display_name.icontains(q, autoescape=True)
        )
    return query


def visible_staff(session: Session, actor: Principal, staff_id: int) -> tuple[Staff, Unit]:
    from shared.errors import NotFound

    staff = session.get(Staff, staff_id)
    unit = session.get(Unit, staff.unit_code) if staff else None
    if staff is None or unit is None or not actor.covers(unit.path):
        raise NotFound(f"staff {staff_id} not found")
    return staff, unit


def set_active(
    session: Session, actor: Principal, staff_id: int, active: bool
) -> tuple[Staff, list[str]]:
    """Deactivate (or reactivate) an account. Deactivation also revokes its sign-ins, so no
    token of before works again once it is reactivated; returns the sign-ins revoked."""
    staff, unit = visible_staff(session, actor, staff_id)
    if not actor.has_any(Role.ADMIN):
        raise Forbidden("only an admin deactivates or reactivates accounts")
    if staff.id == actor.staff_id:
        raise Conflict("an admin cannot deactivate their own account")
    if staff.active == active:
        raise Conflict(
            f"account {staff.username} is already {'active' if active else 'deactivated'}"
        )
    staff.active = active
    staff.deactivated_at = None if active else utcnow()
    revoked = [] if active else families.revoke_all_of(session, staff.id, "deactivated")
    audit.record(
        session,
        actor,
        "staff.reactivated" if active else "staff.deactivated",
        unit,
        target=staff.username,
    )
    return staff, revoked


def ensure_first_admin(
    session: Session, ctx: OrgContext, username: str, password: str, display_name: str
) -> tuple[Staff, bool]:
    """Create the provincial centre's first admin; an existing account is left untouched."""
    name = normalise_username(username)
    existing = session.scalar(select(Staff).where(Staff.username == name))
    if existing is not None:
        return existing, False
    check_password(password)
    root = session.scalar(select(Unit).where(Unit.level == Level.PROVINCE))
    if root is None:
        raise Conflict("the org tree is not loaded; run `flask org load-tree` first")
    staff = Staff(
        username=name,
        display_name=display_name,
        unit_code=root.code,
        roles=[Role.ADMIN.value],
        password_hash=ctx.passwords.hash(password),
    )
    session.add(staff)
    session.flush()
    audit.record(session, None, "staff.first_admin_created", root, target=name)
    return staff, True


@dataclass(frozen=True)
class RevocationFacts:
    """What the shared revocation list must say, from org's database."""

    point_states: dict[str, str]
    deactivated_staff: list[int]
    revoked_families: list[str]


def revocation_facts(session: Session, window: int) -> RevocationFacts:
    """Every acceptance point's state, and the accounts deactivated and sign-ins revoked
    within ``window`` seconds (older ones hold no access token that is still valid)."""
    points = session.execute(
        select(Unit.code, Unit.state).where(Unit.level == Level.ACCEPTANCE_POINT)
    )
    since = utcnow() - timedelta(seconds=window)
    staff = list(
        session.scalars(
            select(Staff.id).where(Staff.active.is_(False), Staff.deactivated_at >= since)
        )
    )
    return RevocationFacts(
        {code: str(state) for code, state in points},
        staff,
        families.revoked_since(session, since),
    )
