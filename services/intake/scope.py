"""Who may do what at the service window, and what each caller may see."""

from __future__ import annotations

from shared.auth import Principal
from shared.errors import Forbidden

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


def path_prefix(principal: Principal) -> str:
    """A LIKE pattern for everything at or below the caller's unit (paths hold [A-Z0-9/])."""
    return f"{principal.unit_path}%"
