"""The clerk's conversion application (学分转换申请) for a learner's account: choosing the
learner's deposited, approved outcomes and a target, the preview (which rules apply, the
credits each gives, every cap with what is used and asked, anything in the way), then the
application and its receipt; an expert judgement where no rule converts an outcome. And
the reversal of an approved conversion, by those intake lets reverse it.

Intake weighs everything (the preview writes nothing, the application weighs again): a
refusal, a condition not met, a cap exceeded or an outcome another conversion holds is
shown beside the outcome or the field it names."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from services.window import forms
from services.window.apis import ApiError
from services.window.signin import call, required
from services.window.standards import catalogue, catalogue_names

blp = Blueprint("conversion", __name__)
OUTCOME_ENTRIES = ("deposit", "import")  # the ledger's deposited outcomes
LABELS = {
    "standard": "转换标准",
    "target": "转换为",
    "outcomes": "学习成果",
    "caps": "转换上限",
    "expert.credits": "专家认定学分",
    "expert.reason": "专家认定理由",
}


def deposited(account: str) -> list[dict[str, Any]]:
    """The account's deposited outcomes (its ledger's deposit and import entries), each
    saying which conversion holds it, if one does."""
    found: list[dict[str, Any]] = []
    page, pages = 1, 1
    while page <= pages:
        params = {"page": page, "per_page": 100}
        ledger = call("intake", "GET", f"/accounts/{account}/ledger", params=params)
        found += [e for e in ledger["items"] if e["entry_kind"] in OUTCOME_ENTRIES]
        pages, page = (ledger["total"] + 99) // 100, page + 1
    return found


def targets(found: dict[str, Any]) -> list[tuple[str, str]]:
    """What an outcome may be converted into: each programme (any of its courses) and each
    of its courses, as ``institution|programme|course``."""
    names = catalogue_names(found)
    options = []
    for programme in found["programmes"]:
        institution = programme["institution_code"]
        head = f"{names.get(institution, institution)} / {programme['name']}"
        options.append((f"{institution}|{programme['code']}|", f"{head}（不限课程）"))
        for course in found["courses"]:
            if course["programme_code"] == programme["code"]:
                key = f"{institution}|{programme['code']}|{course['code']}"
                options.append((key, f"{head} / {course['name']}"))
    return options


def request_body(account: str, form: MultiDict[str, str]) -> dict[str, Any]:
    """The conversion as intake takes it (blank fields left out: intake names what it
    requires)."""
    body: dict[str, Any] = {
        ("account_ref" if account.startswith("ar1.") else "account_number"): account,
        "outcomes": [int(v) for v in form.getlist("outcomes") if v.isdigit()],
    }
    if form.get("standard", "").strip():
        body["standard"] = form["standard"].strip()
    parts = form.get("target", "").split("|")
    if len(parts) == 3 and parts[0] and parts[1]:
        body["target"] = {"institution": parts[0], "programme": parts[1]}
        if parts[2]:
            body["target"]["course"] = parts[2]
    if form.get("expert") and (form.get("expert.credits") or form.get("expert.reason")):
        body["expert"] = {
            k: v for k in ("credits", "reason") if (v := form.get(f"expert.{k}", "").strip())
        }
    return body


def conversion_errors(items: list[dict[str, str]], sent: list[int]) -> dict[str, str]:
    """Intake's field errors by the form's fields: ``outcomes.2`` is the third outcome sent
    (shown beside it: ``outcome.<its entry>``), ``target.programme`` the target, a cap's
    the caps'."""
    errors: dict[str, str] = {}
    for item in items:
        name = item.get("field") or "_body"
        parts = name.split(".")
        if parts[0] == "outcomes" and len(parts) > 1 and parts[1].isdigit():
            index = int(parts[1])
            name = f"outcome.{sent[index]}" if index < len(sent) else "outcomes"
        elif name == "outcomes" and "Length" in (item.get("reason") or ""):
            item = {**item, "reason": "请选择至少 1 项、至多 50 项学习成果"}
        elif parts[0] in ("target", "caps"):
            name = parts[0]
        elif parts[0] in ("account", "account_number", "account_ref"):
            name = "_body"
        errors[name] = "；".join(filter(None, (errors.get(name), item.get("reason"))))
    return errors


def _page(account: str, status: int = 200, **shown: Any) -> tuple[str, int]:
    found = call("intake", "GET", f"/accounts/{account}")
    known = catalogue()
    standards = call("intake", "GET", "/conversion-standards")["items"]
    form = shown.pop("form", None) or MultiDict()
    outcomes = deposited(account)
    in_force = [s for s in standards if s["in_force"]]
    context = {
        "account": account,
        "found": found,
        "outcomes": outcomes,
        "standards": in_force,
        "standard_options": [
            (s["code"], f"{s['name']}（{s['code']} 第 {s['in_force']['version']} 版）")
            for s in in_force
        ],
        "targets": targets(known),
        "names": catalogue_names(known),
        "form": form,
        "chosen": {int(v) for v in form.getlist("outcomes") if v.isdigit()},
        "key": forms.idempotency_key(form),
        "labels": {**LABELS, **{f"outcome.{e['id']}": e["description"] for e in outcomes}},
        "errors": {},
        **shown,
    }
    return render_template("conversion/apply.html", **context), status


@blp.get("/accounts/<account>/conversion")
@required(window=True)
def start(account: str) -> tuple[str, int]:
    return _page(account)


@blp.post("/accounts/<account>/conversion")
@required(window=True)
def apply(account: str) -> Any:
    """``action=preview``: what the standard makes of the chosen outcomes, shown with the
    form; otherwise the application, ending on its receipt."""
    body = request_body(account, request.form)
    sent = body["outcomes"]
    if request.form.get("action") == "preview":
        try:
            preview = call("intake", "POST", "/conversions/preview", json=body)
        except ApiError as exc:
            if exc.status not in (404, 409, 422):
                raise
            return _refused(account, exc, sent)
        items = [*preview["problems"], *preview["conflicts"]]
        return _page(
            account, preview=preview, errors=conversion_errors(items, sent), form=request.form
        )
    key = forms.idempotency_key(request.form)
    try:
        taken = call("intake", "POST", "/conversions", json=body, headers={"Idempotency-Key": key})
    except ApiError as exc:
        if exc.status not in (404, 409, 422):
            raise
        return _refused(account, exc, sent)
    return redirect(url_for("window.receipt", application_id=taken["id"]), 303)


def _refused(account: str, exc: ApiError, sent: list[int]) -> tuple[str, int]:
    errors = conversion_errors(exc.errors, sent)
    return _page(account, exc.status, error=exc, errors=errors, form=request.form)


# --- a reversal ---------------------------------------------------------------------------


@blp.post("/applications/<uuid:application_id>/reversal")
@required("admin")
def reverse(application_id: uuid.UUID) -> Any:
    """An approved conversion taken back with a reason: a reversal entry in the ledger."""
    reason = request.form.get("reason", "").strip()
    try:
        call(
            "intake",
            "POST",
            f"/conversions/{application_id}/reversal",
            json={"reason": reason} if reason else {},
        )
    except ApiError as exc:
        if exc.status not in (403, 404, 409, 422):
            raise
        found = call("intake", "GET", f"/applications/{application_id}")
        return render_template(
            "window/application.html",
            application=found,
            labels=forms.labels(found.get("outcome_kind")),
            names=catalogue_names(),
            reversal_error=exc,
        ), exc.status
    flash("已冲销该学分转换：学分账户中记入一笔冲销，原转换记录保留。")
    return redirect(url_for("window.application", application_id=application_id), 303)
