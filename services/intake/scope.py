"""Who may do what at the service window, and what each caller may see."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.intake.models import Application
from shared.auth import Principal
from shared.errors import Forbidden, NotFound

TAKING_ROLES = ("service",)


def require_window_staff(principal: Principal) -> None:
    """Applications are taken by service staff of an acceptance point that is OPERATING (its
    live state, as the shared revocation list gives it)."""
    if principal.unit_level != "acceptance_point":
        raise Forbidden("applications are taken at an acceptance point's service window")
    if principal.unit_state != "OPERATING":
        state = principal.unit_state or "in no known state"
        raise Forbidden(
            f"acceptance point {principal.unit_code} is {state}, not OPERATING: it takes "
            "applications once it has started business"
        )
    if not principal.has_any(*TAKING_ROLES):
        raise Forbidden("applications are taken by service-window staff (role: service)")


CORRECTING_LEVELS = ("province", "branch", "subcentre")


def require_corrector(principal: Principal, what: str) -> None:
    """A posting is corrected (reversed) by an administrator of a unit above the points."""
    if principal.unit_level not in CORRECTING_LEVELS or not principal.has_any("admin"):
        raise Forbidden(f"{what} is reversed by an administrator of a unit above the point")


def resolve_unit(session: Session, principal: Principal, code: str | None) -> tuple[str, str]:
    """(code, path) of the unit asked for. Intake does not hold the org tree: a unit other
    than the caller's own is found by the path of any application taken beneath it."""
    if code is None or code == principal.unit_code:
        return principal.unit_code, principal.unit_path
    segment = f"/{code}/"
    found = session.scalar(
        select(Application.unit_path)
        .where(
            Application.unit_path.like(f"{principal.unit_path}%"),
            Application.unit_path.like(f"%{segment}%"),
        )
        .limit(1)
    )
    path = found[: found.index(segment) + len(segment)] if found else None
    if path is None or not principal.covers(path):
        raise NotFound(f"unit {code} not found")
    return code, path


def get_visible(
    session: Session, principal: Principal, application_id: uuid.UUID, lock: bool = False
) -> Application:
    """The application if it was taken in the caller's subtree; 404 otherwise."""
    query = select(Application).where(Application.id == application_id)
    application = session.scalar(query.with_for_update() if lock else query)
    if application is None or not principal.covers(application.unit_path):
        raise NotFound(f"application {application_id} not found")
    return application
