"""The review desk, at any level: the inbox (counts, filters, oldest first), claiming and
releasing a case, the case itself (the application, its evidence in the page, the automatic
checks, the earlier levels' decisions) and deciding it, many cases at once, an import's
batch (its figures and sample rows, rows rejected with reasons); then the backlog of the
caller's subtree and the assessment figures.

Every rule (who may decide, what a decision needs, whose cases these are) is review's or
intake's: a refusal comes back as the API's problem and is shown beside the field it names."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from markupsafe import Markup
from werkzeug.datastructures import MultiDict

from services.window import charts, forms, wording
from services.window.apis import ApiError
from services.window.signin import call, person, required
from services.window.standards import catalogue_names
from shared.clock import CHINA

blp = Blueprint("review", __name__, url_prefix="/review")
PER_PAGE = 20
FILTERS = ("kind", "point", "older_than_hours")
DECISION_NAME = {"approve": "通过", "reject": "不通过", "return": "退回补正"}
# A rejected row as a reviewer writes it: its number, then its reason (``7：无结业证书``).
ROW_LINE = re.compile(r"\s*(\d+)\s*(?:[:：,，、]|\s)\s*(.*)")


def claim_live(case: dict[str, Any]) -> bool:
    """Claimed and not expired: review counts an expired claim as pending, open to anyone of
    the unit, and so does the page."""
    until = case.get("claim_expires_at")
    if case.get("status") != "claimed" or not until:
        return False
    return datetime.fromisoformat(until) > datetime.now(UTC)


# --- the inbox ----------------------------------------------------------------------------


def _inbox_params(args: MultiDict[str, str]) -> dict[str, Any]:
    chosen = {name: args[name].strip() for name in FILTERS if args.get(name, "").strip()}
    return {"page": args.get("page", 1), "per_page": PER_PAGE, **chosen}


def _inbox_page(params: dict[str, Any]) -> dict[str, Any]:
    page: dict[str, Any] = call("review", "GET", "/inbox", params=params)
    for item in page["items"]:
        item["claim_live"] = claim_live(item)
    return page


def _inbox(status: int = 200, **shown: Any) -> tuple[str, int]:
    """The inbox as its filters ask (those the API refused are shown beside their field,
    and the inbox unfiltered), with what the page has to say besides."""
    params = _inbox_params(request.args)
    try:
        page = _inbox_page(params)
    except ApiError as exc:
        if exc.status != 422:
            raise
        page, shown["filter_errors"], status = _inbox_page({"per_page": PER_PAGE}), exc, 422
    return render_template("review/inbox.html", page=page, params=params, **shown), status


@blp.get("/inbox")
@required("reviewer")
def inbox() -> tuple[str, int]:
    return _inbox()


# Posted to the inbox's own address, so that the page it answers with is the inbox (its
# filters and pages link on from there); posted again, review refuses each case decided.
@blp.post("/inbox")
@required("reviewer")
def decide_many() -> tuple[str, int]:
    """The same decision for every case ticked in the inbox; each is decided or refused on
    its own, and the page says how many were decided and names each one refused."""
    chosen = request.form.getlist("case_id")
    if not chosen:
        nothing = ApiError(
            422, "请先勾选要审核的案件。", [{"field": "case_id", "reason": "请先勾选"}]
        )
        return _inbox(422, many_error=nothing, many_form=request.form)
    body = decision_body(request.form)
    items = [{"case_id": case_id, **body} for case_id in chosen]
    try:
        results = call("review", "POST", "/cases/decisions", json={"decisions": items})
    except ApiError as exc:
        if exc.status != 422:
            raise
        return _inbox(422, many_error=exc, many_form=request.form)
    refused_reason = _refused_reason(results["results"])
    return _inbox(
        200 if not refused_reason else 422,
        results=results,
        many_error=refused_reason,
        many_form=request.form,
    )


def _refused_reason(results: list[dict[str, Any]]) -> ApiError | None:
    """A reason the decision needed and did not have: shown once, beside the reason field,
    rather than once per case."""
    for result in results:
        for error in (result.get("problem") or {}).get("errors") or []:
            if error.get("field") == "reason":
                return ApiError(422, "请填写理由后再提交。", [error])
    return None


# --- one case -----------------------------------------------------------------------------


def _evidence(case: dict[str, Any], application: dict[str, Any]) -> list[dict[str, Any]]:
    """The case's evidence in its order, each with what it is (intake knows each file's type):
    an image is shown as an image (it can be turned), anything else in a frame."""
    types = {e["sha256"]: e["content_type"] for e in application.get("evidence") or []}
    shown = []
    for number, sha in enumerate(case.get("attachments") or [], start=1):
        content_type = types.get(sha, "")
        shown.append(
            {
                "number": number,
                "sha256": sha,
                "image": content_type.startswith("image/"),
                "type_name": {"application/pdf": "PDF"}.get(content_type, "图片"),
                "url": url_for("review.evidence", case_id=case["id"], sha256=sha),
            }
        )
    return shown


def application_fields(application: dict[str, Any]) -> list[tuple[str, Any]]:
    """The application's data as the clerk filled it in: each field by its label, in the
    form's order (any the form does not know of after them, by their own names)."""
    kind = application.get("outcome_kind") or ""
    data: dict[str, Any] = application.get("data") or {}
    order = [field.name for field in forms.OUTCOME_FIELDS.get(kind, ())]
    labels = forms.labels(kind)
    names: list[str] = [name for name in order if name in data]
    names += [name for name in data if name not in order]
    return [(labels.get(f"outcome.{name}", name), data[name]) for name in names]


def _earlier_decisions(case: dict[str, Any], application: dict[str, Any]) -> list[dict[str, Any]]:
    """What the levels below decided in this round, and how earlier rounds ended."""
    return [
        event
        for event in application.get("timeline") or []
        if event["type"] in ("passed_up", "returned", "rejected")
        and (event["round"] < case["round"] or event.get("level") != case["level"])
    ]


def _case_context(case_id: uuid.UUID) -> dict[str, Any]:
    case = call("review", "GET", f"/cases/{case_id}")
    application = call("intake", "GET", f"/applications/{case['application_id']}")
    samples = []
    if case.get("batch"):
        samples = call("intake", "GET", f"/imports/{case['batch']['import_id']}/samples")
    who = person()
    return {
        "names": catalogue_names() if case["kind"] == "conversion" else {},
        "case": case,
        "application": application,
        "samples": samples,
        "fields": application_fields(application),
        "evidence": _evidence(case, application),
        "earlier": _earlier_decisions(case, application),
        "claim_live": claim_live(case),
        "mine": claim_live(case) and who is not None and case["claimed_by"] == who.username,
    }


def _case_page(case_id: uuid.UUID, status: int = 200, **shown: Any) -> tuple[str, int]:
    return render_template("review/case.html", **_case_context(case_id), **shown), status


@blp.get("/cases/<uuid:case_id>")
@required("reviewer")
def case(case_id: uuid.UUID) -> tuple[str, int]:
    return _case_page(case_id)


@blp.post("/cases/<uuid:case_id>/claim")
@required("reviewer")
def claim(case_id: uuid.UUID) -> Any:
    try:
        call("review", "POST", f"/cases/{case_id}/claim")
    except ApiError as exc:
        if exc.status != 409:
            raise
        return _case_page(case_id, 409, claim_error=exc)
    flash("已领取。领取期间，本单位其他审核人员不能审核此案件。", "success")
    return redirect(url_for("review.case", case_id=case_id), 303)


@blp.post("/cases/<uuid:case_id>/release")
@required("reviewer")
def release(case_id: uuid.UUID) -> Any:
    try:
        call("review", "POST", f"/cases/{case_id}/release")
    except ApiError as exc:
        if exc.status != 409:
            raise
        return _case_page(case_id, 409, claim_error=exc)
    flash("已放回待办，本单位审核人员均可领取。", "success")
    return redirect(url_for("review.inbox"), 303)


def rejected_rows(text: str) -> list[dict[str, Any]]:
    """``7：无证书`` lines (a row number, then its reason) as the decision's rejected rows;
    a line that is not one is sent as it is, for review to refuse by name."""
    rows: list[dict[str, Any]] = []
    for line in filter(str.strip, text.splitlines()):
        found = ROW_LINE.fullmatch(line)
        if found:
            rows.append({"row": int(found[1]), "reason": found[2].strip()})
        else:
            rows.append({"row": line.strip(), "reason": ""})
    return rows


def decision_body(form: MultiDict[str, str]) -> dict[str, Any]:
    """A decision as review takes it; blank fields are left out, for review to say which
    it requires."""
    body: dict[str, Any] = {"decision": form.get("decision", "")}
    if form.get("reason", "").strip():
        body["reason"] = form["reason"].strip()
    if form.get("rejected_rows", "").strip():
        body["rejected_rows"] = rejected_rows(form["rejected_rows"])
    return body


def decision_errors(exc: ApiError) -> dict[str, str]:
    """The API's field errors by the form's fields: ``rejected_rows.3.row`` belongs to the
    rejected-rows box, as its fourth line."""
    errors: dict[str, str] = {}
    for error in exc.errors:
        name, text = error.get("field") or "_body", wording.reason(error.get("reason"))
        if name.startswith("rejected_rows."):
            index = name.split(".")[1]
            name = "rejected_rows"
            text = f"第 {int(index) + 1} 条：{text}" if index.isdigit() else text
        errors[name] = "；".join(filter(None, (errors.get(name), text)))
    return errors


def _decided_message(case: dict[str, Any]) -> str:
    what = wording.APPLICATION_KIND.get(case["kind"], case["kind"])
    decision = DECISION_NAME.get(case.get("decision") or "", "")
    if case.get("decision") == "approve":
        decision += "（终审）" if case["level"] == case["top_level"] else "，已报送上一级"
    return f"已审核：{what}（{case['point_code']}），{decision}。"


@blp.post("/cases/<uuid:case_id>/decision")
@required("reviewer")
def decide(case_id: uuid.UUID) -> Any:
    try:
        decided = call(
            "review", "POST", f"/cases/{case_id}/decision", json=decision_body(request.form)
        )
    except ApiError as exc:
        if exc.status not in (403, 409, 422):
            raise
        shown = {"error": exc, "errors": decision_errors(exc), "form": request.form}
        return _case_page(case_id, exc.status, **shown)
    flash(_decided_message(decided), "success")
    return redirect(url_for("review.inbox"), 303)


@blp.get("/cases/<uuid:case_id>/evidence/<sha256>")
@required("reviewer")
def evidence(case_id: uuid.UUID, sha256: str) -> Response:
    """A piece of the case's evidence, streamed from intake (where the reviewer's subtree
    holds the application) to be viewed in the page: another unit's case is 404."""
    found = call("review", "GET", f"/cases/{case_id}")
    path = f"/applications/{found['application_id']}/attachments/{sha256}"
    answer = call("intake", "GET", path, raw=True, stream=True)
    keep = ("Content-Type", "Content-Disposition", "Content-Length")
    headers = {k: v for k, v in answer.headers.items() if k in keep}
    return Response(answer.iter_content(64 * 1024), headers=headers)


# --- the backlog and the assessment -------------------------------------------------------

NAMES_AT_ONCE = 100  # org's GET /units?code= takes at most this many codes
CHART_LABEL = 10  # characters of a unit's name beside its bar


def unit_names(codes: list[str]) -> dict[str, str]:
    """The names of the units ``codes`` (those of the person's subtree), from org. The names
    are a courtesy to the reader: if org does not answer, the codes still say which unit."""
    names: dict[str, str] = {}
    wanted = sorted(set(codes))
    try:
        for start in range(0, len(wanted), NAMES_AT_ONCE):
            chosen = ",".join(wanted[start : start + NAMES_AT_ONCE])
            params = {"code": chosen, "per_page": NAMES_AT_ONCE}
            for unit in call("org", "GET", "/units", params=params)["items"]:
                names[unit["code"]] = unit["name"]
    except ApiError:
        return names
    return names


def short_name(name: str) -> str:
    """A unit's name short enough to stand beside a bar: every unit is the credit bank's."""
    name = name.removeprefix("浙江学分银行")
    return name if len(name) <= CHART_LABEL else name[: CHART_LABEL - 1] + "…"


@blp.get("/backlog")
@required()
def backlog() -> str:
    found = call("review", "GET", "/backlog")
    names = unit_names([unit["unit_code"] for unit in found["units"]])
    return render_template("review/backlog.html", backlog=found, names=names)


# The levels an assessment groups by, lowest first, and the unit levels they belong to.
GROUPS = (
    ("point", "受理点"),
    ("county", "分中心（县）"),
    ("city", "分部（市）"),
    ("province", "全省"),
)
OWN_GROUP = {"acceptance_point": 0, "subcentre": 1, "branch": 2, "province": 3}


def _groups() -> list[tuple[str, str]]:
    """What the signed-in person may group by: their own level and those below it."""
    who = person()
    top = OWN_GROUP.get(who.unit_level if who else "", 0)
    return list(GROUPS[: top + 1])


def _assessment_params(args: MultiDict[str, str]) -> dict[str, Any]:
    """The range (this year to today by default) and the grouping (one level below the
    person's own by default: a sub-centre sees its points)."""
    today = datetime.now(CHINA).date()  # the assessment counts China's calendar days
    groups = _groups()
    params = {
        "from": args.get("from") or today.replace(month=1, day=1).isoformat(),
        "to": args.get("to") or today.isoformat(),
        "by": args.get("by") or groups[max(0, len(groups) - 2)][0],
    }
    if args.get("unit", "").strip():
        params["unit"] = args["unit"].strip()
    return params


@blp.get("/assessment")
@required()
def assessment() -> Any:
    """The assessment figures as a table and a chart, exported as CSV or XLSX."""
    params = _assessment_params(request.args)
    export = request.args.get("format")
    if export in ("csv", "xlsx"):
        answer = call("intake", "GET", "/assessment", params={**params, "format": export}, raw=True)
        keep = ("Content-Type", "Content-Disposition")
        return Response(
            answer.content, headers={k: v for k, v in answer.headers.items() if k in keep}
        )
    shown: dict[str, Any] = {"params": params, "groups": _groups(), "figures": None}
    try:
        figures = call("intake", "GET", "/assessment", params=params)
    except ApiError as exc:
        if exc.status not in (404, 422):
            raise
        return render_template("review/assessment.html", error=exc, **shown), exc.status
    names = unit_names([row["unit_code"] for row in figures["rows"]])
    for row in figures["rows"]:
        row["name"] = names.get(row["unit_code"], "")
        row["label"] = short_name(row["name"]) if row["name"] else row["unit_code"]
    shown["names"] = names
    chart = charts.bars(figures["rows"], "score", "label", title="各单位得分（数字见下表）")
    # Our own SVG: every text in it is escaped by charts.bars.
    shown.update(figures=figures, chart=Markup(chart))  # noqa: S704
    return render_template("review/assessment.html", **shown)
