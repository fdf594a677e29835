"""Conversion standards and the catalogue their rules point at: every standard, its
versions and the rules of each, the version in force on a day (anyone signed in); for the
administrators who keep a standard (the provincial centre's, or a branch's for its city),
drafting a standard or a new version, editing a draft (its dates, caps and rules, the
rules also as a CSV sheet, downloaded and uploaded), publishing and retiring; the
catalogue, and its entries edited by the provincial centre's administrators.

Intake decides every step (who may, what a rule may hold, whether a rule set contradicts
itself); a refusal is shown beside the field it names, a rule's by its row."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from services.window import rulesheet, wording
from services.window.apis import ApiError, apis
from services.window.signin import call, person, required

blp = Blueprint("standards", __name__, url_prefix="/conversion")
REFUSALS = (403, 404, 409, 422)
CATALOGUE_KINDS = ("certificates", "institutions", "programmes", "courses")
# What each kind of catalogue entry holds besides its code, as its form sends it.
ENTRY_FIELDS = {
    "certificates": ("name", "outcome_kind", "levels"),
    "institutions": ("name",),
    "programmes": ("institution_code", "name"),
    "courses": ("programme_code", "name", "credits"),
}


def keeps_standards() -> bool:
    """Offered the forms that keep standards (intake decides, and may still refuse)."""
    who = person()
    return bool(who and who.has("admin") and who.unit_level in ("province", "branch"))


def keeps_catalogue() -> bool:
    who = person()
    return bool(who and who.has("admin") and who.unit_level == "province")


@blp.app_context_processor
def _offers() -> dict[str, Any]:
    return {"keeps_standards": keeps_standards, "keeps_catalogue": keeps_catalogue}


def cap_kinds() -> list[str]:
    """The caps a version may declare, as intake's schema lists them."""
    kind = apis()["intake"].schema("Cap").get("properties", {}).get("kind", {})
    return list(kind.get("enum") or [])


def _integers() -> frozenset[str]:
    properties = apis()["intake"].schema("Rule").get("properties", {})
    return frozenset(name for name, prop in properties.items() if prop.get("type") == "integer")


# --- the list, and a new standard -------------------------------------------------------


def _standards() -> list[dict[str, Any]]:
    return list(call("intake", "GET", "/conversion-standards")["items"])


def _list_page(error: ApiError | None = None, status: int = 200) -> tuple[str, int]:
    shown = {"standards": _standards(), "error": error, "form": request.form if error else {}}
    return render_template("conversion/standards.html", **shown), status


@blp.get("/standards")
@required()
def index() -> tuple[str, int]:
    return _list_page()


@blp.post("/standards")
@required("admin")
def create() -> Any:
    """A new standard of the administrator's unit, its first version a draft to fill in."""
    body = {k: v for k in ("code", "name", "effective_from", "note") if (v := _value(k))}
    try:
        created = call("intake", "POST", "/conversion-standards", json=body)
    except ApiError as exc:
        if exc.status in REFUSALS:
            return _list_page(exc, exc.status)
        raise
    flash(f"转换标准 {created['code']} 已创建，第 1 版为草稿：请填写规则后发布。")
    return redirect(url_for("standards.version", code=created["code"], number=1), 303)


def _value(name: str) -> str:
    return request.form.get(name, "").strip()


# --- one standard -----------------------------------------------------------------------


def _standard(code: str) -> dict[str, Any]:
    found = next((s for s in _standards() if s["code"] == code), None)
    if found is None:
        abort(404)
    return found


def _may_edit(standard: dict[str, Any]) -> bool:
    who = person()
    return bool(keeps_standards() and who and who.unit_code == standard["publisher_code"])


@blp.get("/standards/<code>")
@required()
def standard(code: str) -> tuple[str, int]:
    """The standard, its versions, and the version in force on a day (today by default)."""
    found = _standard(code)
    on = request.args.get("on", "").strip()
    shown: dict[str, Any] = {"standard": found, "on": on, "may_edit": _may_edit(found)}
    try:
        shown["in_force"] = call(
            "intake", "GET", f"/conversion-standards/{code}", params={"on": on} if on else {}
        )
    except ApiError as exc:
        if exc.status not in (404, 422):
            raise
        shown["in_force"], shown["on_error"] = None, exc
    shown["names"] = catalogue_names()
    status = 422 if shown.get("on_error") and shown["on_error"].status == 422 else 200
    return render_template("conversion/standard.html", **shown), status


@blp.post("/standards/<code>/versions")
@required("admin")
def new_version(code: str) -> Any:
    """A new draft superseding the latest version, its caps and rules copied."""
    try:
        made = call("intake", "POST", f"/conversion-standards/{code}/versions")
    except ApiError as exc:
        if exc.status not in REFUSALS:
            raise
        flash(wording.reason(exc.detail), "danger")
        return redirect(url_for("standards.standard", code=code), 303)
    flash(f"已生成第 {made['version']} 版草稿（复制自上一版），修改后发布。")
    return redirect(url_for("standards.version", code=code, number=made["version"]), 303)


# --- one version ------------------------------------------------------------------------


def _version_page(code: str, number: int, status: int = 200, **shown: Any) -> tuple[str, int]:
    found = _standard(code)
    version = call("intake", "GET", f"/conversion-standards/{code}/versions/{number}")
    context = {
        "standard": found,
        "version": version,
        "may_edit": _may_edit(found),
        "cap_kinds": cap_kinds(),
        "caps": {cap["kind"]: cap for cap in version["caps"]},
        "sheet": rulesheet.dump(version["rules"]),
        "columns": rulesheet.COLUMNS,
        "names": catalogue_names(),
        "errors": {},
        "form": None,
        **shown,
    }
    return render_template("conversion/version.html", **context), status


@blp.get("/standards/<code>/versions/<int:number>")
@required()
def version(code: str, number: int) -> tuple[str, int]:
    return _version_page(code, number)


@blp.get("/standards/<code>/versions/<int:number>/rules.csv")
@required()
def sheet(code: str, number: int) -> Response:
    """The version's rules as a CSV sheet (UTF-8 with its BOM, for Excel)."""
    version = call("intake", "GET", f"/conversion-standards/{code}/versions/{number}")
    name = f"{code}-v{number}-rules.csv"
    return Response(
        rulesheet.BOM + rulesheet.dump(version["rules"]),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def draft_body(form: MultiDict[str, str], text: str) -> tuple[dict[str, Any], list[str]]:
    """The draft as intake takes it, and the kinds of its caps in the order sent (intake
    names a cap by its place): blank fields left out, a cap for each limit filled in."""
    body: dict[str, Any] = {
        name: value
        for name in ("effective_from", "effective_to", "note")
        if (value := form.get(name, "").strip())
    }
    sent: list[str] = []
    body["caps"] = []
    for kind in cap_kinds():
        limit = form.get(f"cap.{kind}", "").strip()
        if not limit:
            continue
        cap = {"kind": kind, "limit": limit}
        if kind == "per_year" and form.get("cap.per_year.year_starts", "").strip():
            cap["year_starts"] = form["cap.per_year.year_starts"].strip()
        body["caps"].append(cap)
        sent.append(kind)
    body["rules"] = rulesheet.load(text, _integers())
    return body, sent


def version_errors(exc: ApiError, sent_caps: list[str]) -> dict[str, str]:
    """Intake's field errors by the draft form's fields: ``caps.1.limit`` belongs to the
    second cap sent, ``rules.3.credits`` to the rule sheet's fourth row."""
    errors: dict[str, str] = {}
    for error in exc.errors:
        name, text = error.get("field") or "_body", wording.reason(error.get("reason"))
        parts = name.split(".")
        if parts[0] == "caps" and len(parts) > 1 and parts[1].isdigit():
            kind = sent_caps[int(parts[1])] if int(parts[1]) < len(sent_caps) else ""
            name = "cap.per_year.year_starts" if parts[-1] == "year_starts" else f"cap.{kind}"
        elif parts[0] == "rules":
            row = f"第 {int(parts[1]) + 1} 条规则" if len(parts) > 1 and parts[1].isdigit() else ""
            column = rulesheet.COLUMNS.get(parts[2], parts[2]) if len(parts) > 2 else ""
            where = f"{row}（{column}）" if row and column else row
            name, text = "rules", f"{where}：{text}" if where else text
        errors[name] = "；".join(filter(None, (errors.get(name), text)))
    return errors


@blp.post("/standards/<code>/versions/<int:number>")
@required("admin")
def edit(code: str, number: int) -> Any:
    """The draft replaced whole: its dates, caps and rules (the sheet uploaded, or the
    sheet's text as edited in the page)."""
    upload = request.files.get("rules_file")
    if upload and upload.filename:
        text = rulesheet.read_upload(upload.read())
    else:
        text = request.form.get("rules", "")
    try:
        body, sent = draft_body(request.form, text)
    except rulesheet.SheetError as exc:
        errors = {"rules": wording.reason(str(exc))}
        return _version_page(code, number, 422, errors=errors, form=request.form, sheet=text)
    try:
        call("intake", "PUT", f"/conversion-standards/{code}/versions/{number}", json=body)
    except ApiError as exc:
        if exc.status not in REFUSALS:
            raise
        shown = {"errors": version_errors(exc, sent), "error": exc, "form": request.form}
        return _version_page(code, number, exc.status, sheet=text, **shown)
    flash(f"第 {number} 版草稿已保存（{len(body['rules'])} 条规则）。")
    return redirect(url_for("standards.version", code=code, number=number), 303)


@blp.post("/standards/<code>/versions/<int:number>/publish")
@required("admin")
def publish(code: str, number: int) -> Any:
    """The draft published, checked whole by intake: each fault named, beside its field."""
    try:
        call("intake", "POST", f"/conversion-standards/{code}/versions/{number}/publish")
    except ApiError as exc:
        if exc.status not in REFUSALS:
            raise
        version = call("intake", "GET", f"/conversion-standards/{code}/versions/{number}")
        sent = [cap["kind"] for cap in version["caps"]]
        shown = {"errors": version_errors(exc, sent), "error": exc, "publish_refused": True}
        return _version_page(code, number, exc.status, **shown)
    flash(f"第 {number} 版已发布，发布后不能再修改。")
    return redirect(url_for("standards.version", code=code, number=number), 303)


@blp.post("/standards/<code>/versions/<int:number>/retire")
@required("admin")
def retire(code: str, number: int) -> Any:
    path = f"/conversion-standards/{code}/versions/{number}/retire"
    try:
        call("intake", "POST", path, json={"reason": _value("reason")} if _value("reason") else {})
    except ApiError as exc:
        if exc.status not in REFUSALS:
            raise
        shown = {"retire_error": exc, "form": request.form}
        return _version_page(code, number, exc.status, **shown)
    flash(f"第 {number} 版已停止施行；已按此版办理的转换不受影响。")
    return redirect(url_for("standards.version", code=code, number=number), 303)


# --- the catalogue ----------------------------------------------------------------------


def catalogue() -> dict[str, list[dict[str, Any]]]:
    return dict(call("intake", "GET", "/catalogue"))


def catalogue_names(found: dict[str, Any] | None = None) -> dict[str, str]:
    """Every catalogue code's name (codes are unique within a kind; the pages name them)."""
    found = found if found is not None else catalogue()
    return {entry["code"]: entry["name"] for kind in CATALOGUE_KINDS for entry in found[kind]}


PARENT_KIND = {"programmes": "institutions", "courses": "programmes"}
KIND = "<any(certificates, institutions, programmes, courses):kind>"


@blp.get("/catalogue")
@required()
def catalogue_page() -> str:
    return render_template(
        "conversion/catalogue.html", catalogue=catalogue(), may_edit=keeps_catalogue()
    )


def _entry_page(kind: str, error: ApiError | None = None, status: int = 200) -> tuple[str, int]:
    """The form of one entry: a new one, or the one named by ``code`` to correct."""
    found = catalogue()
    code = request.args.get("code", "")
    entry = next((e for e in found[kind] if e["code"] == code), None) if code else None
    parents = [
        (e["code"], f"{e['name']}（{e['code']}）") for e in found.get(PARENT_KIND.get(kind, ""), [])
    ]
    context = {
        "kind": kind,
        "entry": entry,
        "parents": parents,
        "error": error,
        "form": request.form if error else None,
    }
    return render_template("conversion/entry.html", **context), status


@blp.get(f"/catalogue/{KIND}")
@required("admin")
def entry(kind: str) -> tuple[str, int]:
    return _entry_page(kind)


def entry_body(kind: str, form: MultiDict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for name in ENTRY_FIELDS[kind]:
        value = form.get(name, "").strip()
        if name == "levels":
            body[name] = [v for v in value.replace("，", ",").replace("、", ",").split(",") if v]
        elif value:
            body[name] = value
    return body


@blp.post(f"/catalogue/{KIND}")
@required("admin")
def put_entry(kind: str) -> Any:
    """One entry of the catalogue added or corrected (audited by intake)."""
    code = _value("code")
    try:
        if not code:
            raise ApiError(422, "code", [{"field": "code", "reason": "required"}])
        call("intake", "PUT", f"/catalogue/{kind}/{code}", json=entry_body(kind, request.form))
    except ApiError as exc:
        if exc.status not in REFUSALS:
            raise
        return _entry_page(kind, exc, exc.status)
    flash(f"目录条目 {code} 已保存。")
    return redirect(url_for("standards.catalogue_page") + f"#{kind}", 303)
