"""The review desk, at any level: the inbox (counts, filters, oldest first), claiming and
releasing a case, the case itself (the application, its evidence in the page, the automatic
checks, the earlier levels' decisions) and deciding it, many cases at once, an import's
batch (its figures and sample rows, rows rejected with reasons); then the backlog of the
caller's subtree and the assessment figures."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, url_for
from markupsafe import Markup

from services.window import charts
from services.window.apis import ApiError
from services.window.signin import call, required

blp = Blueprint("review", __name__, url_prefix="/review")
DECISIONS = ("approve", "reject", "return")


@blp.get("/inbox")
@required("reviewer")
def inbox() -> str:
    params = {"page": request.args.get("page", 1), "per_page": 20}
    for name in ("kind", "point", "older_than_hours"):
        if request.args.get(name):
            params[name] = request.args[name]
    page = call("review", "GET", "/inbox", params=params)
    return render_template("review/inbox.html", page=page, params=params)


def _case_context(case_id: uuid.UUID) -> dict[str, Any]:
    case = call("review", "GET", f"/cases/{case_id}")
    application = call("intake", "GET", f"/applications/{case['application_id']}")
    samples = []
    if case.get("batch"):
        samples = call("intake", "GET", f"/imports/{case['batch']['import_id']}/samples")
    return {"case": case, "application": application, "samples": samples}


@blp.get("/cases/<uuid:case_id>")
@required("reviewer")
def case(case_id: uuid.UUID) -> str:
    return render_template("review/case.html", **_case_context(case_id))


@blp.post("/cases/<uuid:case_id>/claim")
@required("reviewer")
def claim(case_id: uuid.UUID) -> Response:
    call("review", "POST", f"/cases/{case_id}/claim")
    return redirect(url_for("review.case", case_id=case_id), 303)  # type: ignore[return-value]


@blp.post("/cases/<uuid:case_id>/release")
@required("reviewer")
def release(case_id: uuid.UUID) -> Response:
    call("review", "POST", f"/cases/{case_id}/release")
    return redirect(url_for("review.inbox"), 303)  # type: ignore[return-value]


def rejected_rows(text: str) -> list[dict[str, Any]]:
    """``7：无证书`` lines (a row number, then its reason) as the decision's rejected rows;
    what is not such a line is sent as it is, for review to refuse by name."""
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        number, _, why = line.replace("：", ":").partition(":")
        rows.append({"row": int(number) if number.strip().isdigit() else number, "reason": why})
    return rows


@blp.post("/cases/<uuid:case_id>/decision")
@required("reviewer")
def decide(case_id: uuid.UUID) -> Any:
    body: dict[str, Any] = {"decision": request.form.get("decision", "")}
    if request.form.get("reason", "").strip():
        body["reason"] = request.form["reason"].strip()
    if request.form.get("rejected_rows", "").strip():
        body["rejected_rows"] = rejected_rows(request.form["rejected_rows"])
    try:
        call("review", "POST", f"/cases/{case_id}/decision", json=body)
    except ApiError as exc:
        if exc.status in (409, 422):
            context = _case_context(case_id)
            return render_template(
                "review/case.html", **context, error=exc, form=request.form
            ), exc.status
        raise
    return redirect(url_for("review.inbox", decided=case_id), 303)


@blp.post("/decisions")
@required("reviewer")
def decide_many() -> Any:
    """The same decision for every case ticked in the inbox; each is decided or refused on
    its own, and the page says which."""
    decision = request.form.get("decision", "")
    reason = request.form.get("reason", "").strip()
    items = [
        {"case_id": case_id, "decision": decision, **({"reason": reason} if reason else {})}
        for case_id in request.form.getlist("case_id")
    ]
    if not items:
        return redirect(url_for("review.inbox"), 303)
    try:
        results = call("review", "POST", "/cases/decisions", json={"decisions": items})
    except ApiError as exc:
        if exc.status == 422:
            page = call("review", "GET", "/inbox", params={"per_page": 20})
            return render_template("review/inbox.html", page=page, params={}, batch_error=exc), 422
        raise
    page = call("review", "GET", "/inbox", params={"per_page": 20})
    return render_template("review/inbox.html", page=page, params={}, results=results)


@blp.get("/cases/<uuid:case_id>/evidence/<sha256>")
@required("reviewer")
def evidence(case_id: uuid.UUID, sha256: str) -> Response:
    """A piece of the case's evidence, streamed from intake (where the reviewer's subtree
    holds the application) to be viewed in the page."""
    found = call("review", "GET", f"/cases/{case_id}")
    path = f"/applications/{found['application_id']}/attachments/{sha256}"
    answer = call("intake", "GET", path, raw=True, stream=True)
    headers = {
        k: v
        for k, v in answer.headers.items()
        if k in ("Content-Type", "Content-Disposition", "Content-Length")
    }
    return Response(answer.iter_content(64 * 1024), headers=headers)


@blp.get("/backlog")
@required()
def backlog() -> str:
    found = call("review", "GET", "/backlog")
    return render_template("review/backlog.html", backlog=found)


LEVELS = ("point", "subcentre", "county", "branch", "city", "province")


@blp.get("/assessment")
@required()
def assessment() -> Any:
    """The assessment figures as a table and a chart, exported as CSV or XLSX."""
    today = date.today()
    params = {
        "from": request.args.get("from") or today.replace(month=1, day=1).isoformat(),
        "to": request.args.get("to") or today.isoformat(),
        "by": request.args.get("by", "county"),
    }
    if request.args.get("unit"):
        params["unit"] = request.args["unit"]
    export = request.args.get("format")
    if export in ("csv", "xlsx"):
        answer = call("intake", "GET", "/assessment", params={**params, "format": export}, raw=True)
        headers = {
            k: v for k, v in answer.headers.items() if k in ("Content-Type", "Content-Disposition")
        }
        return Response(answer.content, headers=headers)
    try:
        figures = call("intake", "GET", "/assessment", params=params)
    except ApiError as exc:
        if exc.status in (404, 422):
            return render_template(
                "review/assessment.html", params=params, error=exc, figures=None, chart=None
            ), exc.status
        raise
    chart = Markup(charts.bars(figures["rows"], "score"))  # noqa: S704 - our own SVG, escaped
    return render_template("review/assessment.html", params=params, figures=figures, chart=chart)
