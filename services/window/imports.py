"""Bulk imports at the window: the template to fill in, a file sent, its progress while it
is read, its refused rows (on the page and as errors.csv), and afterwards its records and
what became of each in review."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for

from services.window import wording
from services.window.apis import ApiError
from services.window.signin import call, required

blp = Blueprint("imports", __name__, url_prefix="/imports")
RUNNING = ("received", "processing")
ISSUES_PER_PAGE, RECORDS_PER_PAGE = 50, 50
# The column of an issue about no one column: a row refused whole (a repeat), or the whole
# file (a workbook found, when read, to hold more rows than allowed).
WHOLE = {"": "整行", "file": "整个文件"}


def column_name(column: str | None) -> str:
    return WHOLE.get(column or "", column or "")


def _download(path: str, params: dict[str, Any] | None = None) -> Response:
    answer = call("intake", "GET", path, params=params or {}, raw=True)
    keep = ("Content-Type", "Content-Disposition")
    return Response(answer.content, headers={k: v for k, v in answer.headers.items() if k in keep})


def worded(exc: ApiError) -> ApiError:
    """The refusal with each field's reason in Chinese before the reasons of one field are
    joined (a file may lack a column and hold an unknown one)."""
    errors = [{**e, "reason": wording.reason(e.get("reason"))} for e in exc.errors]
    return ApiError(exc.status, exc.detail, errors, exc.problem)


@blp.get("/")
@required(window=True)
def index(error: ApiError | None = None, status: int = 200) -> tuple[str, int]:
    page = call("intake", "GET", "/imports", params={"page": request.args.get("page", 1)})
    return render_template("window/imports.html", page=page, error=error), status


@blp.get("/template")
@required(window=True)
def template() -> Response:
    kind = "csv" if request.args.get("format") == "csv" else "xlsx"
    return _download("/imports/template", {"format": kind})


@blp.post("/")
@required(window=True)
def send() -> Any:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return index(
            ApiError(422, "请选择要导入的文件。", [{"field": "file", "reason": "请选择文件"}]), 422
        )
    try:
        answer = call(
            "intake",
            "POST",
            "/imports",
            files={"file": (upload.filename, upload.stream, upload.mimetype)},
            raw=True,
        )
    except ApiError as exc:
        if exc.status in (413, 415, 422):
            return index(worded(exc), exc.status)
        raise
    if answer.status_code == 200:  # the same file from this point: its import, not a second
        flash("这个文件已经导入过，下面是当时的导入情况。", "info")
    return redirect(url_for("imports.detail", import_id=answer.json()["id"]), 303)


@blp.get("/<uuid:import_id>")
@required()
def detail(import_id: uuid.UUID) -> Any:
    """An import and its progress: the page asks again every two seconds while its rows are
    read (htmx), then shows its refused rows."""
    found = call("intake", "GET", f"/imports/{import_id}")
    polled = bool(request.headers.get("HX-Request"))
    if polled and found["status"] not in RUNNING:
        return Response(status=204, headers={"HX-Refresh": "true"})  # read whole: the full page
    if polled:
        return render_template("window/import_progress.html", imported=found, running=RUNNING)
    issues = None
    if found["status"] not in RUNNING:
        params = {"page": request.args.get("page", 1), "per_page": ISSUES_PER_PAGE}
        if request.args.get("kind") in ("invalid", "duplicate"):
            params["kind"] = request.args["kind"]
        issues = call("intake", "GET", f"/imports/{import_id}/errors", params=params)
    return render_template(
        "window/import.html",
        imported=found,
        issues=issues,
        running=RUNNING,
        kind=request.args.get("kind"),
        column_name=column_name,
    )


def issues_in_chinese(raw: bytes) -> bytes:
    """intake's errors.csv as a clerk reads it: the kind and the reason in Chinese (where we
    have the wording), a row refused whole named as such; row numbers and values untouched
    (a value a spreadsheet would run as a formula stays text, as intake wrote it)."""
    rows = csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""))
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(next(rows, ["行号", "列", "类型", "值", "原因"]))
    for row, column, kind, value, reason in rows:
        writer.writerow(
            [
                row,
                column_name(column),
                wording.ISSUE_KIND.get(kind, kind),
                value,
                wording.reason(reason),
            ]
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")


@blp.get("/<uuid:import_id>/errors.csv")
@required()
def errors_csv(import_id: uuid.UUID) -> Response:
    answer = call("intake", "GET", f"/imports/{import_id}/errors.csv", raw=True)
    keep = ("Content-Type", "Content-Disposition")
    headers = {k: v for k, v in answer.headers.items() if k in keep}
    return Response(issues_in_chinese(answer.content), headers=headers)


@blp.get("/<uuid:import_id>/records")
@required()
def records(import_id: uuid.UUID) -> str:
    """The import's records and what became of each: waiting for review, taken into the
    learner's account, or not taken (at which level, and why)."""
    found = call("intake", "GET", f"/imports/{import_id}")
    params = {"page": request.args.get("page", 1), "per_page": RECORDS_PER_PAGE}
    if request.args.get("status") in wording.RECORD_STATUS:
        params["status"] = request.args["status"]
    page = call("intake", "GET", f"/imports/{import_id}/records", params=params)
    return render_template(
        "window/import_records.html", imported=found, page=page, status=params.get("status")
    )
