"""How an acceptance point comes to life (建设流程), one step after another, none skipped:

LISTED (bureau) -> ALLOCATED (its sub-centre or branch) -> ACTIVE (its own admin)
-> OPERATING (once it has management, technical and service staff and a window).
Its superiors may SUSPEND it from any state and REINSTATE it to the state it left.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, Sequence, and_, any_, func, select, true
from sqlalchemy.orm import Session

from services.org import audit
from services.org.accounts import canonical_username, check_password, digest, normalise_username
from services.org.context import OrgContext
from services.org.models import ActivationCode, Base, Outbox, PointState, Role, Staff, Unit
from services.org.tree import get_visible, under
from shared import outbox, sealing
from shared.auth import Principal
from shared.db import utcnow
from shared.errors import (
    Conflict,
    FieldError,
    Forbidden,
    InvalidState,
    NotFound,
    ValidationProblem,
)
from shared.identity import IdentityError, validate_mobile
from shared.levels import Level

POINT_CODE_SEQ = Sequence("acceptance_point_code_seq", metadata=Base.metadata)
REQUIRED_ROLES = (Role.MANAGEMENT, Role.TECHNICAL, Role.SERVICE)
POINT_KINDS = ("community_school", "adult_school", "training_organisation", "school", "other")
POINT_TIERS = ("city", "county", "township")
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud at a window


@dataclass(frozen=True)
class Allocation:
    unit: Unit
    admin: Staff
    activation_code: str
    expires_at: datetime


def get_point(session: Session, actor: Principal, code: str, lock: bool = False) -> Unit:
    """The acceptance point ``code`` within the caller's scope (404 otherwise)."""
    unit = get_visible(session, actor, code)
    if unit.level != Level.ACCEPTANCE_POINT:
        raise NotFound(f"acceptance point {code} not found")
    if lock:
        session.refresh(unit, with_for_update=True)
    return unit


def _require_state(unit: Unit, step: str, *allowed: PointState) -> None:
    if unit.state not in allowed:
        names = " or ".join(s.value for s in allowed)
        raise InvalidState(
            f"acceptance point {unit.code} is {unit.state}; {step} needs it {names}",
            current_state=str(unit.state),
        )


def _event(
    session: Session,
    event_type: str,
    unit: Unit,
    recipients: list[int],
    sealed: dict[str, str] | None = None,
    **data: Any,
) -> None:
    outbox.enqueue(
        session,
        Outbox,
        "notify.deliver",
        {
            "event_type": event_type,
            "occurred_at": utcnow().isoformat(),
            "unit_code": unit.code,
            "recipient_staff_ids": recipients,
            "data": {"unit_name": unit.name, **data},
            "sealed": sealed or {},
        },
    )


def list_point(
    session: Session,
    actor: Principal,
    name: str,
    parent_code: str,
    point_kind: str,
    point_tier: str,
    address: str | None = None,
) -> Unit:
    """Step 1: an education bureau lists an acceptance point under a unit of its area."""
    if not actor.has_any(Role.BUREAU):
        raise Forbidden("only an education bureau's account lists acceptance points")
    parent = get_visible(session, actor, parent_code)
    if parent.level not in (Level.BRANCH, Level.SUBCENTRE):
        raise ValidationProblem(
            "acceptance points sit under a branch or a sub-centre",
            [FieldError("parent_code", f"{parent_code} is a {parent.level.value}")],
        )
    taken = session.scalar(
        select(Unit.code).where(Unit.parent_code == parent.code, Unit.name == name)
    )
    if taken:
        raise Conflict(
            f"{parent.code} already has an acceptance point named {name}",
            [FieldError("name", f"already listed as {taken}")],
            existing_code=taken,
        )
    code = f"AP{session.scalar(POINT_CODE_SEQ.next_value()):06d}"
    unit = Unit(
        code=code,
        level=Level.ACCEPTANCE_POINT,
        name=name,
        parent_code=parent.code,
        path=f"{parent.path}{code}/",
        city=parent.city,
        county=parent.county,
        state=PointState.LISTED,
        point_kind=point_kind,
        point_tier=point_tier,
        address=address,
        listed_by=actor.staff_id,
    )
    session.add(unit)
    session.flush()
    audit.record(session, actor, "point.listed", unit, target=code)
    return unit


def _new_activation_code() -> str:
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def _outstanding_code(session: Session, unit: Unit) -> ActivationCode | None:
    return session.scalar(
        select(ActivationCode)
        .where(
            ActivationCode.unit_code == unit.code,
            ActivationCode.used_at.is_(None),
        )
        .order_by(ActivationCode.id.desc())
        .limit(1)
    )


def _pending_admin(session: Session, unit: Unit, username: str, display_name: str) -> Staff:
    admin = session.scalar(
        select(Staff).where(Staff.unit_code == unit.code, any_(Staff.roles) == Role.ADMIN.value)
    )
    name = normalise_username(username, "admin_username")
    clash = session.scalar(select(Staff.id).where(Staff.username == name))
    if clash is not None and (admin is None or clash != admin.id):
        raise Conflict(f"username {name} is taken", [FieldError("admin_username", "already taken")])
    if admin is None:
        admin = Staff(
            unit_code=unit.code,
            roles=[Role.ADMIN.value],
            username=name,
            display_name=display_name,
            active=False,
        )
        session.add(admin)
    admin.username, admin.display_name = name, display_name
    session.flush()
    return admin


def allocate(
    session: Session,
    ctx: OrgContext,
    actor: Principal,
    code: str,
    admin_username: str,
    admin_display_name: str,
    admin_phone: str | None = None,
) -> Allocation:
    """Step 2: the point's sub-centre or branch allocates its admin account.

    Yields a one-time activation code, valid for ``activation_code_ttl``; once it has
    expired unused, the account may be allocated again with a new code.
    """
    phone = None
    if admin_phone:
        try:
            phone = validate_mobile(admin_phone)
        except IdentityError as exc:
            raise ValidationProblem(
                "the admin's phone number is not valid", [FieldError("admin_phone", exc.reason)]
            ) from None
    unit = get_point(session, actor, code, lock=True)
    if actor.unit_code != unit.parent_code or not actor.has_any(Role.ADMIN, Role.MANAGEMENT):
        raise Forbidden("the admin account is allocated by the point's own sub-centre or branch")
    previous = _outstanding_code(session, unit)
    if unit.state == PointState.ALLOCATED and previous and previous.expires_at > utcnow():
        raise InvalidState(
            f"acceptance point {unit.code} is ALLOCATED and its activation code is valid "
            f"until {previous.expires_at.isoformat()}",
            current_state=unit.state.value,
        )
    _require_state(unit, "allocation", PointState.LISTED, PointState.ALLOCATED)
    admin = _pending_admin(session, unit, admin_username, admin_display_name)
    plain = _new_activation_code()
    expires = utcnow() + timedelta(seconds=ctx.settings.activation_code_ttl)
    if previous is not None:
        previous.expires_at = min(previous.expires_at, utcnow())
    session.add(
        ActivationCode(
            unit_code=unit.code,
            staff_id=admin.id,
            code_hash=digest(plain),
            expires_at=expires,
            created_by=actor.staff_id,
        )
    )
    unit.state = PointState.ALLOCATED
    _event(
        session,
        "org.activation_code_allocated",
        unit,
        [actor.staff_id, admin.id],
        sealed={
            "activation_code": sealing.seal(ctx.notify_public_pem, plain),
            **({"phone": sealing.seal(ctx.notify_public_pem, phone)} if phone else {}),
        },
        admin_username=admin.username,
        expires_at=expires.isoformat(),
    )
    audit.record(
        session,
        actor,
        "point.allocated",
        unit,
        target=admin.username,
        expires_at=expires.isoformat(),
    )
    return Allocation(unit, admin, plain, expires)


def activate(session: Session, ctx: OrgContext, username: str, code: str, password: str) -> Unit:
    """Step 3: the point's admin activates the account with the code and sets a password."""
    bad = ValidationProblem(
        "the activation code is not valid for this account",
        [FieldError("activation_code", "unknown, used, or for another account")],
    )
    row = session.scalar(
        select(ActivationCode)
        .where(ActivationCode.code_hash == digest(code.strip().upper()))
        .with_for_update()
    )
    admin = session.get(Staff, row.staff_id) if row else None
    if row is None or admin is None or admin.username != canonical_username(username):
        raise bad
    if row.used_at is not None:
        raise bad
    if row.expires_at <= utcnow():
        raise ValidationProblem(
            "the activation code has expired",
            [
                FieldError(
                    "activation_code", "expired; ask your sub-centre or branch to allocate again"
                )
            ],
        )
    unit = session.get_one(Unit, row.unit_code, with_for_update=True)
    _require_state(unit, "activation", PointState.ALLOCATED)
    check_password(password)
    row.used_at = utcnow()
    admin.password_hash = ctx.passwords.hash(password)
    admin.active = True
    unit.state = PointState.ACTIVE
    principal = Principal(
        admin.id, admin.username, unit.code, unit.path, unit.level.value, frozenset(admin.roles)
    )
    audit.record(session, principal, "point.activated", unit, target=admin.username)
    return unit


def _require_own_admin(actor: Principal, unit: Unit) -> None:
    if actor.unit_code != unit.code or not actor.has_any(Role.ADMIN):
        raise Forbidden("only the acceptance point's own admin does this")


def set_window(
    session: Session, actor: Principal, code: str, address: str, opening_hours: str
) -> Unit:
    """Register (or change) the point's service window."""
    unit = get_point(session, actor, code, lock=True)
    _require_own_admin(actor, unit)
    _require_state(unit, "registering the window", PointState.ACTIVE, PointState.OPERATING)
    unit.window_address, unit.window_hours = address, opening_hours
    audit.record(session, actor, "point.window_set", unit, target=unit.code)
    return unit


def gaps(session: Session, unit: Unit) -> list[str]:
    """What the point still lacks to operate: 'window' and any of the required roles."""
    held = set(
        session.scalars(
            select(func.unnest(Staff.roles)).where(
                Staff.unit_code == unit.code, Staff.active.is_(True)
            )
        )
    )
    missing = [] if unit.window_address else ["window"]
    return missing + [r.value for r in REQUIRED_ROLES if r.value not in held]


def start_business(session: Session, actor: Principal, code: str) -> Unit:
    """Step 4: the point starts business once it has every required role and a window."""
    unit = get_point(session, actor, code, lock=True)
    _require_own_admin(actor, unit)
    _require_state(unit, "starting business", PointState.ACTIVE)
    missing = gaps(session, unit)
    if missing:
        raise Conflict(
            f"acceptance point {unit.code} cannot start business yet: it lacks "
            f"{', '.join(missing)}",
            missing=missing,
            current_state=str(unit.state),
        )
    unit.state = PointState.OPERATING
    _event(session, "org.acceptance_point_operating", unit, [actor.staff_id])
    audit.record(session, actor, "point.operating", unit, target=unit.code)
    return unit


def _require_superior(actor: Principal, unit: Unit) -> None:
    if actor.unit_code == unit.code or not actor.has_any(Role.ADMIN, Role.MANAGEMENT):
        raise Forbidden("only an admin or manager of a superior unit suspends or reinstates")


def suspend(session: Session, actor: Principal, code: str, reason: str) -> Unit:
    unit = get_point(session, actor, code, lock=True)
    _require_superior(actor, unit)
    if unit.state == PointState.SUSPENDED:
        raise InvalidState(
            f"acceptance point {unit.code} is already SUSPENDED", current_state=unit.state.value
        )
    unit.suspended_from, unit.state = unit.state, PointState.SUSPENDED
    _event(session, "org.acceptance_point_suspended", unit, [actor.staff_id], reason=reason)
    audit.record(session, actor, "point.suspended", unit, target=unit.code, reason=reason)
    return unit


def reinstate(session: Session, actor: Principal, code: str) -> Unit:
    unit = get_point(session, actor, code, lock=True)
    _require_superior(actor, unit)
    _require_state(unit, "reinstatement", PointState.SUSPENDED)
    assert unit.suspended_from is not None
    unit.state, unit.suspended_from = unit.suspended_from, None
    _event(session, "org.acceptance_point_reinstated", unit, [actor.staff_id])
    audit.record(session, actor, "point.reinstated", unit, target=unit.code)
    return unit


def compliance_query(unit: Unit) -> Select[Any]:
    """Acceptance points under ``unit`` that lack a window or one of the required roles."""

    def has(role: Role) -> Any:
        return func.coalesce(func.bool_or(any_(Staff.roles) == role.value), False).label(role.value)

    has_window = (Unit.window_address.is_not(None)).label("window")
    roles = [has(r) for r in REQUIRED_ROLES]
    lacking = ~and_(
        true(),
        *[func.coalesce(func.bool_or(any_(Staff.roles) == r.value), False) for r in REQUIRED_ROLES],
    )
    return (
        select(Unit.code, Unit.name, Unit.state, Unit.parent_code, has_window, *roles)
        .join(Staff, and_(Staff.unit_code == Unit.code, Staff.active.is_(True)), isouter=True)
        .where(Unit.level == Level.ACCEPTANCE_POINT, under(unit.path))
        .group_by(Unit.code)
        .having(Unit.window_address.is_(None) | lacking)
        .order_by(Unit.path)
    )
