"""Bulk imports at the window: the template to fill in, a file sent, its progress while it
is read, its refused rows (on the page and as errors.csv), and the batch in review."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, url_for

from services.window.apis import ApiError
from services.window.signin import call, required

blp = Blueprint("imports", __name__, url_prefix="/imports")
RUNNING = ("received", "processing")


def _download(path: str, params: dict[str, Any] | None = None) -> Response:
    answer = call("intake", "GET", path, params=params or {}, raw=True)
    keep = ("Content-Type", "Content-Disposition")
    return Response(answer.content, headers={k: v for k, v in answer.headers.items() if k in keep})


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
            ApiError(422, "请选择要导入的文件", [{"field": "file", "reason": "请选择文件"}]), 422
        )
    try:
        sent = call(
            "intake",
            "POST",
            "/imports",
            files={"file": (upload.filename, upload.stream, upload.mimetype)},
        )
    except ApiError as exc:
        if exc.status in (413, 415, 422):
            return index(exc, exc.status)
        raise
    return redirect(url_for("imports.detail", import_id=sent["id"]), 303)


@blp.get("/<uuid:import_id>")
@required()
def detail(import_id: uuid.UUID) -> Any:
    """An import and its progress: the page asks again every two seconds while its rows are
    read, then shows its refused rows."""
    found = call("intake", "GET", f"/imports/{import_id}")
    if request.headers.get("HX-Request") and found["status"] not in RUNNING:
        return Response(status=204, headers={"HX-Refresh": "true"})  # read whole: the full page
    issues = None
    if found["status"] not in RUNNING:
        params = {"page": request.args.get("page", 1), "per_page": 50}
        if request.args.get("kind") in ("invalid", "duplicate"):
            params["kind"] = request.args["kind"]
        issues = call("intake", "GET", f"/imports/{import_id}/errors", params=params)
    template = "window/import_progress.html" if request.headers.get("HX-Request") else None
    return render_template(
        template or "window/import.html", imported=found, issues=issues, running=RUNNING
    )


@blp.get("/<uuid:import_id>/errors.csv")
@required()
def errors_csv(import_id: uuid.UUID) -> Response:
    return _download(f"/imports/{import_id}/errors.csv")
