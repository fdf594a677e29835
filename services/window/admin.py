"""Bringing acceptance points to life and keeping them: the list (listed by an education
bureau), allocating the admin account (its activation code shown once), the point's own
window and staff, starting business, suspending and reinstating; staff accounts, the points
that lack what they must have, and the audit record. Org decides every step; these pages
ask, and show what it answered beside the fields it names."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from services.window.apis import ApiError, apis
from services.window.signin import Person, call, person, required
from services.window.wording import AUDIT_ACTION, ROLE

blp = Blueprint("admin", __name__, url_prefix="/admin")
# The names of org's choices (the choices themselves come from its OpenAPI document).
POINT_KINDS = {
    "community_school": "社区学校",
    "adult_school": "成人学校",
    "training_organisation": "培训机构",
    "school": "学校",
    "other": "其他",
}
POINT_TIERS = {"city": "市级", "county": "县级", "township": "乡镇（街道）级"}
# What a compliance row says a point has, in the order a point's admin sees them.
NEEDS = ("window", "management", "technical", "service")
# The refusals a form shows beside its fields; any other is the error page's.
FORM_REFUSALS = (403, 404, 409, 422)


def _me() -> Person:
    who = person()
    assert who is not None  # every view here is @required
    return who


def _filled(*names: str) -> dict[str, str]:
    """The named fields of the form as sent, trimmed, blank ones left out: org says which
    it requires, and names them."""
    values = {name: request.form.get(name, "").strip() for name in names}
    return {name: value for name, value in values.items() if value}


def _with_roles(body: dict[str, Any]) -> dict[str, Any]:
    """The roles ticked, when any is (none is org's "required", beside the roles)."""
    roles = request.form.getlist("roles")
    return {**body, "roles": roles} if roles else body


def _role_options(roles: list[str]) -> list[tuple[str, str]]:
    return [(role, ROLE.get(role, role)) for role in roles]


def _choices(schema: str, field: str) -> list[str]:
    """What org's schema allows ``field`` to hold (its enum, or its items' enum)."""
    prop = apis()["org"].schema(schema).get("properties", {}).get(field, {})
    return list(prop.get("enum") or prop.get("items", {}).get("enum") or [])


def _filtered(path: str, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """A list read with the person's filters, or, when org refuses a filter (a unit outside
    their area, a code that is none), an empty list and why, by the filter's name."""
    try:
        return call("org", "GET", path, params=params), {}
    except ApiError as exc:
        if exc.status not in (404, 422):
            raise
        empty = {"items": [], "page": 1, "per_page": params.get("per_page", 20), "total": 0}
        return empty, exc.by_field() if exc.errors else {"unit_code": exc.detail}


# --- the list of points, and listing a new one -----------------------------------------


@blp.get("/points")
@required("admin", "bureau", "management")
def points() -> Any:
    """The points of the person's area; a point's own people go straight to their point."""
    who = _me()
    if who.unit_level == "acceptance_point":
        return redirect(url_for("admin.point", code=who.unit_code), 303)
    return _points_page()


def _points_page(error: ApiError | None = None, status: int = 200) -> tuple[str, int]:
    params: dict[str, Any] = {
        "level": "acceptance_point",
        "page": request.args.get("page", 1),
        "per_page": 20,
    }
    for name in ("state", "q"):
        if request.args.get(name, "").strip():
            params[name] = request.args[name].strip()
    page, filter_errors = _filtered("/units", params)
    context: dict[str, Any] = {
        "page": page,
        "filter_errors": filter_errors,
        "error": error,
        "form": request.form if error else {},
    }
    if _me().has("bureau"):
        context |= _listing_choices()
    return render_template("admin/points.html", **context), status


def _listing_choices() -> dict[str, Any]:
    """The bureau's form: the units of its area a point may be listed under (org refuses
    any other), and the kinds and tiers org's schema allows."""
    parents = [
        unit
        for level in ("branch", "subcentre")
        for unit in call("org", "GET", "/units", params={"level": level, "per_page": 100})["items"]
    ]
    return {
        "parents": [(u["code"], f"{u['code']} {u['name']}") for u in parents],
        "kinds": [(k, POINT_KINDS.get(k, k)) for k in _choices("PointListing", "point_kind")],
        "tiers": [(t, POINT_TIERS.get(t, t)) for t in _choices("PointListing", "point_tier")],
    }


@blp.post("/points")
@required("bureau")
def list_point() -> Any:
    """Step 1, by an education bureau: a new point of its area is listed."""
    body = _filled("name", "parent_code", "point_kind", "point_tier", "address")
    try:
        listed = call("org", "POST", "/acceptance-points", json=body)
    except ApiError as exc:
        if exc.status in FORM_REFUSALS:
            return _points_page(exc, exc.status)
        raise
    flash(f"受理点 {listed['code']}（{listed['name']}）已列入名单。")
    return redirect(url_for("admin.point", code=listed["code"]), 303)


# --- a point's page ------------------------------------------------------------------


def _offers(who: Person, unit: dict[str, Any]) -> dict[str, bool]:
    """Which of the page's forms this person is offered. Org decides each step and may
    still refuse (shown as it says); this only keeps forms from people they are not for."""
    own_admin = who.unit_code == unit["code"] and who.has("admin")
    # Seeing a point one is not part of means being above it.
    superior = who.unit_code != unit["code"] and who.has("admin", "management")
    state = unit["state"]
    return {
        "allocate": superior
        and who.unit_code == unit["parent_code"]
        and state in ("LISTED", "ALLOCATED"),
        "run": own_admin and state in ("ACTIVE", "OPERATING"),
        "start": own_admin and state == "ACTIVE",
        "suspend": superior and state != "SUSPENDED",
        "reinstate": superior and state == "SUSPENDED",
    }


def _needs(code: str) -> dict[str, bool]:
    """What the point has of what it needs to start business, as org's compliance list
    says (a point that lacks nothing is not on it)."""
    rows = call("org", "GET", f"/units/{code}/compliance", params={"per_page": 1})["items"]
    row = rows[0] if rows else {}
    return {need: bool(row.get(need, True)) for need in NEEDS}


def _suspension(code: str) -> dict[str, Any] | None:
    """The latest suspension of the point in the audit record: when, by whom, why."""
    page = call(
        "org",
        "GET",
        "/audit",
        params={"unit_code": code, "action": "point.suspended", "per_page": 1},
    )
    return page["items"][0] if page["items"] else None


def _point_page(
    code: str, failed: str | None = None, error: ApiError | None = None, status: int = 200
) -> tuple[str, int]:
    """The point's page; ``failed`` names the form org refused, shown with ``error``."""
    unit = call("org", "GET", f"/units/{code}")
    if unit["level"] != "acceptance_point":
        abort(404)
    offers = _offers(_me(), unit)
    context = {
        "unit": unit,
        "offers": offers,
        "staff": call("org", "GET", "/staff", params={"unit_code": code, "per_page": 100}),
        "role_options": _role_options(unit["staff_roles"]),
        "needs": _needs(code) if offers["start"] else None,
        "suspension": _suspension(code) if unit["state"] == "SUSPENDED" else None,
        "failed": failed,
        "error": error,
        "form": request.form if error else {},
    }
    return render_template("admin/point.html", **context), status


@blp.get("/points/<code>")
@required()
def point(code: str) -> tuple[str, int]:
    return _point_page(code)


def _step(code: str, form: str, method: str, path: str, body: Any, done: str) -> Any:
    """One step of the point's life asked of org: back to its page, saying it is done, or
    with the form org refused and why."""
    try:
        call("org", method, path, json=body)
    except ApiError as exc:
        if exc.status in FORM_REFUSALS:
            return _point_page(code, form, exc, exc.status)
        raise
    flash(done)
    return redirect(url_for("admin.point", code=code), 303)


@blp.post("/points/<code>/allocation")
@required("management", "admin")
def allocate(code: str) -> Any:
    """Step 2, by its sub-centre or branch: the admin account, and its activation code,
    shown on this answer once. The window keeps it nowhere: a reload sends the form again,
    and org refuses a second allocation while the code is valid."""
    body = _filled("admin_username", "admin_display_name", "admin_phone")
    try:
        allocated = call("org", "POST", f"/acceptance-points/{code}/allocation", json=body)
    except ApiError as exc:
        if exc.status in FORM_REFUSALS:
            return _point_page(code, "allocate", exc, exc.status)
        raise
    return render_template("admin/allocated.html", allocated=allocated, phone="admin_phone" in body)


@blp.get("/points/<code>/allocation")
@required()
def allocation(code: str) -> Response:
    # The code was shown once, on the answer to the form: here there is only the point.
    return redirect(url_for("admin.point", code=code), 303)


@blp.post("/points/<code>/window")
@required("admin")
def set_window(code: str) -> Any:
    body = _filled("address", "opening_hours")
    path = f"/acceptance-points/{code}/window"
    return _step(code, "window", "PUT", path, body, "服务窗口信息已保存。")


@blp.post("/points/<code>/staff")
@required("admin")
def add_point_staff(code: str) -> Any:
    body = _with_roles(_filled("username", "display_name", "password") | {"unit_code": code})
    done = f"已添加人员 {body.get('username', '')}。"
    return _step(code, "staff", "POST", "/staff", body, done)


@blp.post("/points/<code>/start")
@required("admin")
def start(code: str) -> Any:
    path = f"/acceptance-points/{code}/start"
    return _step(code, "start", "POST", path, None, "受理点已开展业务。")


@blp.post("/points/<code>/suspend")
@required("admin", "management")
def suspend(code: str) -> Any:
    path = f"/acceptance-points/{code}/suspend"
    done = "受理点已暂停，本点人员暂时不能登录和办理业务。"
    return _step(code, "suspend", "POST", path, _filled("reason"), done)


@blp.post("/points/<code>/reinstate")
@required("admin", "management")
def reinstate(code: str) -> Any:
    path = f"/acceptance-points/{code}/reinstate"
    return _step(code, "reinstate", "POST", path, None, "受理点已恢复。")


# --- staff accounts ------------------------------------------------------------------


def _staff_filters() -> dict[str, Any]:
    """The list's filters (unit, name, page): every form of the list carries them in its
    address, so the list looks the same after it."""
    return {k: request.args[k].strip() for k in ("unit_code", "q", "page") if request.args.get(k)}


def _staff_page(
    failed: str | None = None, error: ApiError | None = None, status: int = 200
) -> tuple[str, int]:
    """The staff list; ``failed`` names the form org refused (``create``, or ``active``
    for a deactivation or reactivation), shown with ``error``."""
    filters = _staff_filters()
    page, filter_errors = _filtered("/staff", {"page": 1, **filters, "per_page": 20})
    context = {
        "page": page,
        "filters": filters,
        "filter_errors": filter_errors,
        "role_options": _role_options(_choices("StaffCreate", "roles")),
        "failed": failed,
        "error": error,
        "form": request.form if failed == "create" else {},
    }
    return render_template("admin/staff.html", **context), status


@blp.get("/staff")
@required("admin")
def staff() -> tuple[str, int]:
    return _staff_page()


@blp.post("/staff")
@required("admin")
def create_staff() -> Any:
    body = _with_roles(_filled("username", "display_name", "unit_code", "password"))
    try:
        created = call("org", "POST", "/staff", json=body)
    except ApiError as exc:
        if exc.status in FORM_REFUSALS:
            return _staff_page("create", exc, exc.status)
        raise
    flash(f"账号 {created['username']} 已创建。")
    return redirect(url_for("admin.staff", q=created["username"]), 303)


@blp.post("/staff/<int:staff_id>/<any(deactivate, reactivate):action>")
@required("admin")
def set_active(staff_id: int, action: str) -> Any:
    """Deactivating ends every sign-in of the account at once (org revokes them)."""
    try:
        changed = call("org", "POST", f"/staff/{staff_id}/{action}")
    except ApiError as exc:
        if exc.status in FORM_REFUSALS:
            return _staff_page("active", exc, exc.status)
        raise
    if action == "deactivate":
        flash(f"账号 {changed['username']} 已停用，其登录随即失效。")
    else:
        flash(f"账号 {changed['username']} 已恢复，需重新登录。")
    return redirect(url_for("admin.staff", **_staff_filters()), 303)


# --- what points lack, and what was done ---------------------------------------------


@blp.get("/compliance")
@required("admin", "management", "bureau")
def compliance() -> str:
    """The points of the person's area lacking a window or a required role."""
    page = call(
        "org",
        "GET",
        f"/units/{_me().unit_code}/compliance",
        params={"page": request.args.get("page", 1), "per_page": 50},
    )
    return render_template("admin/compliance.html", page=page, needs=NEEDS)


@blp.get("/audit")
@required("admin")
def audit() -> str:
    """Who did what, when, newest first; by unit, by action."""
    filters = {
        k: request.args[k].strip()
        for k in ("unit_code", "action")
        if request.args.get(k, "").strip()
    }
    params = {"page": request.args.get("page", 1), **filters, "per_page": 50}
    page, filter_errors = _filtered("/audit", params)
    return render_template(
        "admin/audit.html",
        page=page,
        filters=filters,
        filter_errors=filter_errors,
        actions=list(AUDIT_ACTION),
    )
