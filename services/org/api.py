"""The org HTTP API: each view loads its schema, calls one service function, dumps a schema."""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask_smorest import Blueprint

from services.org import accounts, audit, listing, points, tree
from services.org import schemas as s
from services.org.context import context, db
from services.org.models import Staff, Unit
from shared.auth import Principal, current_principal
from shared.db import SAFE_METHODS
from shared.errors import FieldError, ValidationProblem
from shared.paging import paginate
from shared.revocations import Revocations

blp = Blueprint("org", __name__, description="Org tree, acceptance points, staff and sign-in")
BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]


def actor() -> Principal:
    """The caller. Every request has passed the shared revocation list; a state change is
    also checked against org's own database, the record of truth."""
    principal = current_principal()
    if request.method not in SAFE_METHODS:
        accounts.acting_staff(db.session, principal)
    return principal


def revocations() -> Revocations:
    return current_app.extensions["cb_revocations"]  # type: ignore[no-any-return]


def committed(value: Any) -> Any:
    db.session.commit()
    return value


def published(point: Unit) -> Unit:
    """``point``, committed, with its state written where every service reads it live."""
    if point.state is not None:
        revocations().point_state(point.code, point.state.value)
    return point


# Tokens are credentials: no cache, shared or private, may keep an answer holding them
# (RFC 6749 §5.1; Pragma for HTTP/1.0 caches).
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
NO_STORE_DOC = {name: {"schema": {"type": "string", "enum": [v]}} for name, v in NO_STORE.items()}


# --- sign-in ----------------------------------------------------------------------------


@blp.post("/auth/token")
@blp.arguments(s.LoginSchema)
@blp.response(200, s.TokenSchema, headers=NO_STORE_DOC)
@blp.alt_response(401, description="wrong username or password")
@blp.alt_response(
    429,
    description="too many failed sign-ins for this account from this address, or from "
    "addresses it has never signed in from (Retry-After says for how long)",
)
def login(body: dict[str, str]) -> Any:
    """Sign in: a short-lived access token and a refresh token."""
    pair = accounts.login(
        db.session, context(), body["username"], body["password"], request.remote_addr
    )
    return committed(pair), NO_STORE


@blp.post("/auth/refresh")
@blp.arguments(s.RefreshSchema)
@blp.response(200, s.TokenSchema, headers=NO_STORE_DOC)
@blp.alt_response(401, description="not valid; a spent one used again revokes its sign-in")
def refresh(body: dict[str, str]) -> Any:
    """Exchange a refresh token for a new pair; the old refresh token is spent. A spent one
    used again revokes the sign-in it came from: every refresh and access token of it."""
    try:
        pair = accounts.refresh(db.session, context(), body["refresh_token"])
    except accounts.RefreshReused as reuse:
        committed(None)  # the revocation stands, though the answer is a refusal
        revocations().family_revoked(reuse.family_id)
        raise
    return committed(pair), NO_STORE


@blp.post("/auth/revoke")
@blp.arguments(s.RefreshSchema)
@blp.response(204)
def revoke(body: dict[str, str]) -> None:
    """Sign out: the refresh token's sign-in is revoked, its access tokens with it, at once
    on every service."""
    family = committed(accounts.revoke(db.session, body["refresh_token"]))
    if family is not None:
        revocations().family_revoked(family)


@blp.get("/me")
@blp.response(200, s.MeSchema)
@blp.doc(security=BEARER)
def me() -> Any:
    """Who the token says the caller is."""
    principal = actor()
    return {**vars(principal), "roles": sorted(principal.roles)}


# --- units ------------------------------------------------------------------------------


@blp.get("/units")
@blp.arguments(s.UnitListArgs, location="query")
@blp.response(200, s.UnitPageSchema)
@blp.alt_response(404, description="the parent named lies outside your subtree")
@blp.doc(security=BEARER)
def list_units(args: dict[str, Any]) -> Any:
    """Units in the caller's subtree, by level, parent, name, state or codes; paginated."""
    principal = actor()
    tree.visible_filter(db.session, principal, args.get("parent"))
    codes = tuple(args["code"]) if args.get("code") else None
    query = tree.units_query(
        principal, args.get("level"), args.get("parent"), args.get("q"), args.get("state"), codes
    )
    return paginate(db.session, query, args["page"], args["per_page"], rows=True)


@blp.get("/units/<code>")
@blp.response(200, s.UnitDetailSchema)
@blp.doc(security=BEARER)
def get_unit(code: str) -> Unit:
    """One unit of the caller's subtree (404 for any other), with the roles its staff may
    hold."""
    return tree.get_visible(db.session, actor(), code)


@blp.get("/units/<code>/ancestors")
@blp.response(200, s.UnitSchema(many=True))
@blp.doc(security=BEARER)
def unit_ancestors(code: str) -> list[Unit]:
    """The unit's ancestors, from the provincial centre down."""
    return tree.ancestors(db.session, tree.get_visible(db.session, actor(), code))


@blp.get("/units/<code>/compliance")
@blp.arguments(s.PageArgs, location="query")
@blp.response(200, s.CompliancePageSchema)
@blp.doc(security=BEARER)
def compliance(args: dict[str, int], code: str) -> Any:
    """Acceptance points under the unit lacking a service window or a required staff role."""
    unit = tree.get_visible(db.session, actor(), code)
    return paginate(
        db.session, points.compliance_query(unit), args["page"], args["per_page"], rows=True
    )


# --- acceptance points ------------------------------------------------------------------


@blp.post("/acceptance-points")
@blp.arguments(s.PointListingSchema)
@blp.response(201, s.UnitSchema)
@blp.alt_response(404, description="no such parent unit in the caller's area")
@blp.alt_response(409, description="a point of that name is already listed there")
@blp.doc(security=BEARER)
def list_point(body: dict[str, Any]) -> Unit:
    """Step 1 (education bureau): list an acceptance point under a unit of its area."""
    return published(committed(points.list_point(db.session, actor(), **body)))


@blp.post("/acceptance-points/batch")
@blp.response(200, s.BatchResultSchema)
@blp.doc(
    security=BEARER,
    requestBody={
        "content": {
            "text/csv": {
                "schema": {
                    "type": "string",
                    "description": "columns: " + ", ".join(listing.COLUMNS),
                }
            }
        }
    },
)
def list_points_batch() -> Any:
    """Step 1 in bulk: a CSV list; good rows are listed, bad rows reported with line numbers."""
    principal = actor()
    upload = request.files.get("file")
    raw = upload.read() if upload else request.get_data()
    if not raw:
        raise ValidationProblem(
            "send the CSV as the body or as the form file 'file'",
            [FieldError("file", "missing", "body")],
        )
    result = committed(listing.list_points_from_csv(db.session, principal, raw))
    for point in result.created:
        published(point)
    return result


@blp.post("/acceptance-points/<code>/allocation")
@blp.arguments(s.AllocationRequestSchema)
@blp.response(201, s.AllocationSchema)
@blp.alt_response(409, description="the point is not LISTED (or its code is still valid)")
@blp.doc(security=BEARER)
def allocate(body: dict[str, str], code: str) -> Any:
    """Step 2 (its sub-centre or branch): allocate the admin account; the code is shown once."""
    result = committed(points.allocate(db.session, context(), actor(), code, **body))
    published(result.unit)
    return {
        "unit_code": result.unit.code,
        "state": result.unit.state.value,
        "admin_username": result.admin.username,
        "activation_code": result.activation_code,
        "expires_at": result.expires_at,
    }


@blp.post("/activation")
@blp.arguments(s.ActivationSchema)
@blp.response(200, s.UnitSchema)
@blp.alt_response(409, description="the point is not ALLOCATED")
def activate(body: dict[str, str]) -> Unit:
    """Step 3 (the point's admin, no token yet): activate with the code and set a password."""
    return published(
        committed(
            points.activate(
                db.session, context(), body["username"], body["activation_code"], body["password"]
            )
        )
    )


@blp.put("/acceptance-points/<code>/window")
@blp.arguments(s.WindowSchema)
@blp.response(200, s.UnitSchema)
@blp.alt_response(409, description="the point is not ACTIVE or OPERATING")
@blp.doc(security=BEARER)
def set_window(body: dict[str, str], code: str) -> Unit:
    """Register the point's service window (address, opening hours)."""
    return committed(
        points.set_window(db.session, actor(), code, body["address"], body["opening_hours"])
    )


@blp.post("/acceptance-points/<code>/start")
@blp.response(200, s.UnitSchema)
@blp.alt_response(409, description="not ACTIVE, or lacking a window or a required role")
@blp.doc(security=BEARER)
def start(code: str) -> Unit:
    """Step 4 (the point's admin): start business."""
    return published(committed(points.start_business(db.session, actor(), code)))


@blp.post("/acceptance-points/<code>/suspend")
@blp.arguments(s.SuspendSchema)
@blp.response(200, s.UnitSchema)
@blp.alt_response(409, description="the point cannot be suspended in its state")
@blp.doc(security=BEARER)
def suspend(body: dict[str, str], code: str) -> Unit:
    """A superior suspends the point: its staff cannot act until it is reinstated."""
    return published(committed(points.suspend(db.session, actor(), code, body["reason"])))


@blp.post("/acceptance-points/<code>/reinstate")
@blp.response(200, s.UnitSchema)
@blp.alt_response(409, description="the point is not SUSPENDED")
@blp.doc(security=BEARER)
def reinstate(code: str) -> Unit:
    """A superior reinstates a suspended point to the state it was suspended from."""
    return published(committed(points.reinstate(db.session, actor(), code)))


# --- staff ------------------------------------------------------------------------------


@blp.post("/staff")
@blp.arguments(s.StaffCreateSchema)
@blp.response(201, s.StaffSchema)
@blp.alt_response(404, description="no such unit in the caller's area")
@blp.alt_response(409, description="the username is taken")
@blp.doc(security=BEARER)
def create_staff(body: dict[str, Any]) -> Staff:
    """Create a staff account in a unit of the caller's subtree (a point's own admin for
    its management, technical, service and reviewer staff)."""
    return committed(accounts.create_staff(db.session, context(), actor(), **body))


@blp.get("/staff")
@blp.arguments(s.StaffListArgs, location="query")
@blp.response(200, s.StaffPageSchema)
@blp.alt_response(404, description="the unit named lies outside your subtree")
@blp.doc(security=BEARER)
def list_staff(args: dict[str, Any]) -> Any:
    """Staff accounts of the caller's subtree, of one unit, or found by part of their
    username or name."""
    principal = actor()
    tree.visible_filter(db.session, principal, args.get("unit_code"))
    query = accounts.staff_query(principal, args.get("unit_code"), args.get("q"))
    return paginate(db.session, query, args["page"], args["per_page"])


@blp.post("/staff/<int:staff_id>/deactivate")
@blp.response(200, s.StaffSchema)
@blp.alt_response(409, description="one's own account, or an account already so")
@blp.doc(security=BEARER)
def deactivate(staff_id: int) -> Staff:
    """Deactivate an account: at once it can no longer act, sign in or refresh its tokens;
    its sign-ins stay revoked if it is reactivated."""
    staff, families = committed(accounts.set_active(db.session, actor(), staff_id, active=False))
    revocations().staff_deactivated(staff.id, families)
    return staff


@blp.post("/staff/<int:staff_id>/reactivate")
@blp.response(200, s.StaffSchema)
@blp.alt_response(409, description="one's own account, or an account already so")
@blp.doc(security=BEARER)
def reactivate(staff_id: int) -> Staff:
    """Reactivate a deactivated account."""
    staff, _ = committed(accounts.set_active(db.session, actor(), staff_id, active=True))
    revocations().staff_reactivated(staff.id)
    return staff


@blp.get("/audit")
@blp.arguments(s.AuditListArgs, location="query")
@blp.response(200, s.AuditPageSchema)
@blp.alt_response(404, description="the unit named lies outside your subtree")
@blp.doc(security=BEARER)
def list_audit(args: dict[str, Any]) -> Any:
    """The audit record of the caller's subtree, newest first."""
    principal = actor()
    tree.visible_filter(db.session, principal, args.get("unit_code"))
    query = audit.audit_query(principal, args.get("unit_code"), args.get("action"))
    return paginate(db.session, query, args["page"], args["per_page"])
