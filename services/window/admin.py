"""Bringing acceptance points to life and keeping them: the list (listed by an education
bureau), allocating the admin account (its activation code shown once), the point's own
window and staff, starting business, suspending and reinstating; staff accounts, the points
that lack what they must have, and the audit record. Org decides every step; these pages
ask, and show what it answered."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from services.window.apis import ApiError
from services.window.signin import call, person, required

blp = Blueprint("admin", __name__, url_prefix="/admin")
POINT_KINDS = {
    "community_school": "社区学校",
    "adult_school": "成人学校",
    "training_organisation": "培训机构",
    "school": "学校",
    "other": "其他",
}
POINT_TIERS = {"city": "市级", "county": "县级", "township": "乡镇（街道）级"}
STAFF_ROLES = ("admin", "management", "technical", "service", "reviewer", "bureau")


def _points(extra: dict[str, Any] | None = None, status: int = 200) -> tuple[str, int]:
    params = {"level": "acceptance_point", "page": request.args.get("page", 1), "per_page": 20}
    if request.args.get("state"):
        params["state"] = request.args["state"]
    page = call("org", "GET", "/units", params=params)
    context = {"page": page, "kinds": POINT_KINDS, "tiers": POINT_TIERS, **(extra or {})}
    return render_template("admin/points.html", **context), status


@blp.get("/points")
@required("admin", "bureau", "management")
def points() -> tuple[str, int]:
    return _points()


@blp.post("/points")
@required("bureau")
def list_point() -> Any:
    """Step 1, by an education bureau: a new point of its area is listed."""
    body = {
        k: request.form.get(k, "").strip()
        for k in ("name", "parent_code", "point_kind", "point_tier")
    }
    try:
        listed = call("org", "POST", "/acceptance-points", json=body)
    except ApiError as exc:
        if exc.status in (404, 409, 422):
            return _points({"error": exc, "form": request.form}, exc.status)
        raise
    flash(f"受理点 {listed['code']}（{listed['name']}）已列入名单。")
    return redirect(url_for("admin.point", code=listed["code"]), 303)


def _point(code: str, extra: dict[str, Any] | None = None, status: int = 200) -> tuple[str, int]:
    unit = call("org", "GET", f"/units/{code}")
    staff = call("org", "GET", "/staff", params={"unit_code": code, "per_page": 100})["items"]
    who = person()
    assert who is not None
    context = {
        "unit": unit,
        "staff": staff,
        "own_admin": who.unit_code == code and who.has("admin"),
        "superior": who.unit_code != code,
        "roles": STAFF_ROLES[1:5],
        **(extra or {}),
    }
    return render_template("admin/point.html", **context), status


@blp.get("/points/<code>")
@required()
def point(code: str) -> tuple[str, int]:
    return _point(code)


def _step(code: str, method: str, path: str, body: dict[str, Any] | None, done: str) -> Any:
    try:
        call("org", method, path, json=body)
    except ApiError as exc:
        if exc.status in (403, 409, 422):
            return _point(code, {"error": exc, "form": request.form}, exc.status)
        raise
    flash(done)
    return redirect(url_for("admin.point", code=code), 303)


@blp.post("/points/<code>/allocation")
@required("management", "admin")
def allocate(code: str) -> Any:
    """Step 2, by its sub-centre or branch: the admin account, and its activation code shown
    on this page once (it is not kept in clear anywhere)."""
    body = {k: request.form.get(k, "").strip() for k in ("admin_username", "admin_display_name")}
    if request.form.get("admin_phone", "").strip():
        body["admin_phone"] = request.form["admin_phone"].strip()
    try:
        allocated = call("org", "POST", f"/acceptance-points/{code}/allocation", json=body)
    except ApiError as exc:
        if exc.status in (403, 409, 422):
            return _point(code, {"error": exc, "form": request.form}, exc.status)
        raise
    return render_template("admin/allocated.html", allocated=allocated)


@blp.post("/points/<code>/window")
@required("admin")
def set_window(code: str) -> Any:
    body = {k: request.form.get(k, "").strip() for k in ("address", "opening_hours")}
    return _step(code, "PUT", f"/acceptance-points/{code}/window", body, "服务窗口信息已保存。")


@blp.post("/points/<code>/staff")
@required("admin")
def add_point_staff(code: str) -> Any:
    body = {
        "username": request.form.get("username", "").strip(),
        "display_name": request.form.get("display_name", "").strip(),
        "unit_code": code,
        "roles": request.form.getlist("roles"),
        "password": request.form.get("password", ""),
    }
    return _step(code, "POST", "/staff", body, f"已为受理点添加人员 {body['username']}。")


@blp.post("/points/<code>/start")
@required("admin")
def start(code: str) -> Any:
    return _step(code, "POST", f"/acceptance-points/{code}/start", None, "受理点已开展业务。")


@blp.post("/points/<code>/suspend")
@required("admin", "management")
def suspend(code: str) -> Any:
    body = {"reason": request.form.get("reason", "").strip()}
    return _step(code, "POST", f"/acceptance-points/{code}/suspend", body, "受理点已暂停。")


@blp.post("/points/<code>/reinstate")
@required("admin", "management")
def reinstate(code: str) -> Any:
    return _step(code, "POST", f"/acceptance-points/{code}/reinstate", None, "受理点已恢复。")


def _staff(extra: dict[str, Any] | None = None, status: int = 200) -> tuple[str, int]:
    params = {"page": request.args.get("page", 1), "per_page": 20}
    if request.args.get("unit_code"):
        params["unit_code"] = request.args["unit_code"]
    page = call("org", "GET", "/staff", params=params)
    context = {"page": page, "roles": STAFF_ROLES, "params": params, **(extra or {})}
    return render_template("admin/staff.html", **context), status


@blp.get("/staff")
@required("admin")
def staff() -> tuple[str, int]:
    return _staff()


@blp.post("/staff")
@required("admin")
def create_staff() -> Any:
    body = {
        "username": request.form.get("username", "").strip(),
        "display_name": request.form.get("display_name", "").strip(),
        "unit_code": request.form.get("unit_code", "").strip(),
        "roles": request.form.getlist("roles"),
        "password": request.form.get("password", ""),
    }
    try:
        call("org", "POST", "/staff", json=body)
    except ApiError as exc:
        if exc.status in (403, 404, 409, 422):
            return _staff({"error": exc, "form": request.form}, exc.status)
        raise
    flash(f"账号 {body['username']} 已创建。")
    return redirect(url_for("admin.staff"), 303)


@blp.post("/staff/<int:staff_id>/<any(deactivate, reactivate):action>")
@required("admin")
def set_active(staff_id: int, action: str) -> Any:
    try:
        call("org", "POST", f"/staff/{staff_id}/{action}")
    except ApiError as exc:
        if exc.status in (403, 404, 409):
            return _staff({"error": exc}, exc.status)
        raise
    flash("账号已停用。" if action == "deactivate" else "账号已恢复。")
    return redirect(url_for("admin.staff"), 303)


@blp.get("/compliance")
@required("admin", "management", "bureau")
def compliance() -> str:
    who = person()
    assert who is not None
    page = call(
        "org",
        "GET",
        f"/units/{who.unit_code}/compliance",
        params={"page": request.args.get("page", 1), "per_page": 50},
    )
    return render_template("admin/compliance.html", page=page)


@blp.get("/audit")
@required("admin")
def audit() -> str:
    params = {"page": request.args.get("page", 1), "per_page": 50}
    for name in ("unit_code", "action"):
        if request.args.get(name):
            params[name] = request.args[name]
    page = call("org", "GET", "/audit", params=params)
    return render_template("admin/audit.html", page=page, params=params)
