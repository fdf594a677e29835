"""Who may do what at the service window, and what each caller may see."""

from __future__ import annotations

from shared.auth import Principal
from shared.errors import Forbidden

TAKING_ROLES = ("service",)


def require_window_staff(principal: Principal) -> None:
    """Applications are taken by service staff of an acceptance point that is OPERATING."""
    if principal.unit_level != "acceptance_point":
        raise Forbidden("applications are taken at an acceptance point's service window")
    if principal.unit_state != "OPERATING":
        raise Forbidden(
            f"acceptance point {principal.unit_code} is {principal.unit_state or 'not known to be'}"
            " OPERATING; it cannot take applications (sign in again after it starts business)"
        )
    if not principal.has_any(*TAKING_ROLES):
        raise Forbidden("applications are taken by service-window staff (role: service)")


def path_prefix(principal: Principal) -> str:
    """A LIKE pattern for everything at or below the caller's unit (paths hold [A-Z0-9/])."""
    return f"{principal.unit_path}%"
