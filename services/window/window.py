"""The service window: the workbench, finding a learner by the document they present, opening
an account, depositing an outcome with its evidence, the receipt of every application, the
application's timeline (resubmit, withdraw), and the account's ledger."""

from __future__ import annotations

import uuid
from typing import Any

import segno
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from markupsafe import Markup

from services.window import forms
from services.window.apis import ApiError, apis
from services.window.signin import call, person, required
from services.window.standards import catalogue_names
from shared.identity import IdentityError, check_agreement, parse_identity

blp = Blueprint("window", __name__)


@blp.get("/")
@required()
def home() -> str:
    """Today's work: for a window, its point's applications by status (returned ones first)
    and unread notices; for a reviewer, the inbox's counts."""
    who = person()
    assert who is not None
    counts: dict[str, int] = {}
    returned: list[dict[str, Any]] = []
    if who.unit_level == "acceptance_point":
        for status in ("returned", "in_review", "approved", "rejected"):
            page = call("intake", "GET", "/applications", params={"status": status, "per_page": 1})
            counts[status] = page["total"]
        returned = call(
            "intake", "GET", "/applications", params={"status": "returned", "per_page": 10}
        )["items"]
    inbox = call("review", "GET", "/inbox", params={"per_page": 1}) if who.has("reviewer") else None
    notices = call("notify", "GET", "/inbox", params={"unread": "true", "per_page": 5})
    return render_template(
        "window/home.html", counts=counts, returned=returned, inbox=inbox, notices=notices
    )


# --- finding a learner --------------------------------------------------------------------


@blp.route("/learners/find", methods=["GET", "POST"])
@required(window=True)
def find_learner() -> Any:
    """The learner presents their document; any point of the province serves any learner.
    The number travels in the form's body, never in an address."""
    form = {"document_type": request.form.get("document_type", "resident_id")}
    if request.method == "GET":
        return render_template("window/find.html", form=form)
    form["document_number"] = request.form.get("document_number", "").strip()
    try:
        found = call("intake", "POST", "/learners/lookup", json=form)
    except ApiError as exc:
        if exc.status == 404:
            return render_template("window/find.html", form=form, not_found=True), 404
        if exc.status == 422:
            return render_template("window/find.html", form=form, errors=exc.by_field()), 422
        raise
    return render_template("window/found.html", found=found)


@blp.post("/identity/check")
@required(window=True)
def check_identity() -> str:
    """The live check of a document number as it is typed: the same rule intake applies
    (``shared.identity``), and what the number says of the person."""
    kind = request.form.get("document_type", "resident_id")
    number = request.form.get("document_number", "").strip()
    if not number:
        return render_template("window/identity_check.html", empty=True)
    try:
        info = parse_identity(kind, number)
        check_agreement(info, None, None)
    except IdentityError as exc:
        return render_template("window/identity_check.html", error=exc.reason)
    return render_template("window/identity_check.html", info=info)


# --- opening an account -------------------------------------------------------------------


@blp.route("/accounts/new", methods=["GET", "POST"])
@required(window=True)
def open_account() -> Any:
    """The opening application: the learner's document, name and mobile number, checked by
    intake; it ends on the receipt."""
    if request.method == "GET" or request.form.get("prefill"):
        form = {"document_type": request.form.get("document_type", "resident_id")}
        form["document_number"] = request.form.get("document_number", "")
        return render_template("window/open.html", form=form, key=forms.idempotency_key())
    key = forms.idempotency_key(request.form)
    body = forms.learner_from(request.form)
    try:
        taken = call("intake", "POST", "/accounts", json=body, headers={"Idempotency-Key": key})
    except ApiError as exc:
        if exc.status in (409, 422):
            return render_template(
                "window/open.html", form=request.form, key=key, error=exc
            ), exc.status
        raise
    return redirect(url_for("window.receipt", application_id=taken["id"]), 303)


# --- deposits -----------------------------------------------------------------------------


def _outcome_fields(kind: str) -> list[forms.Field]:
    schema = apis()["intake"].schema(forms.component(kind))
    return forms.outcome_fields(kind, schema)


@blp.route("/accounts/<account>/deposit", methods=["GET", "POST"])
@required(window=True)
def deposit(account: str) -> Any:
    """Depositing an outcome: its kind, its fields, its evidence (uploaded as each file is
    chosen, or with the form where the browser runs no script)."""
    kind = request.values.get("outcome_kind", "social_training")
    if kind not in forms.OUTCOME_FIELDS:
        abort(404)
    found = call("intake", "GET", f"/accounts/{account}")
    context = {
        "account": account,
        "found": found,
        "kind": kind,
        "fields": _outcome_fields(kind),
        "labels": forms.labels(kind),
    }
    if request.method == "GET" or request.form.get("change_kind"):
        template = "window/deposit_fields.html" if request.headers.get("HX-Request") else None
        return render_template(
            template or "window/deposit.html", form={}, key=forms.idempotency_key(), **context
        )
    key = forms.idempotency_key(request.form)
    try:
        evidence = [*request.form.getlist("attachments"), *_uploaded_with_form()]
        body = {
            ("account_ref" if account.startswith("ar1.") else "account_number"): account,
            "outcome_kind": kind,
            "outcome": forms.outcome_from(request.form, kind),
            "attachments": [sha for sha in evidence if sha],
        }
        taken = call("intake", "POST", "/applications", json=body, headers={"Idempotency-Key": key})
    except ApiError as exc:
        if exc.status in (409, 413, 415, 422):
            return render_template(
                "window/deposit.html", form=request.form, key=key, error=exc, **context
            ), exc.status
        raise
    return redirect(url_for("window.receipt", application_id=taken["id"]), 303)


def _uploaded_with_form() -> list[str]:
    """Evidence sent with the form itself (no script ran to upload it when chosen)."""
    shas = []
    for upload in request.files.getlist("evidence"):
        if upload and upload.filename:
            stored = call(
                "intake",
                "POST",
                "/attachments",
                files={"file": (upload.filename, upload.stream, upload.mimetype)},
            )
            shas.append(stored["sha256"])
    return shas


@blp.post("/evidence")
@required(window=True)
def upload_evidence() -> tuple[str, int]:
    """One piece of evidence, uploaded as soon as it is chosen: its row in the form (the
    hidden field naming it), or why it was refused (a wrong type, too large)."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return render_template("window/evidence_row.html", error="请选择文件"), 422
    try:
        stored = call(
            "intake",
            "POST",
            "/attachments",
            files={"file": (upload.filename, upload.stream, upload.mimetype)},
        )
    except ApiError as exc:
        if exc.status in (413, 415, 422):
            message = {413: "文件超过 10 MB", 415: "只接受 PDF、JPG 或 PNG 文件"}.get(exc.status)
            return render_template(
                "window/evidence_row.html", error=message or exc.detail, filename=upload.filename
            ), 422
        raise
    return render_template("window/evidence_row.html", stored=stored, filename=upload.filename), 200


# --- applications -------------------------------------------------------------------------


@blp.get("/applications")
@required()
def applications() -> str:
    params = {
        "page": request.args.get("page", 1),
        "per_page": 20,
        **{k: v for k in ("status", "kind") if (v := request.args.get(k))},
    }
    page = call("intake", "GET", "/applications", params=params)
    return render_template("window/applications.html", page=page, params=params)


@blp.get("/applications/<uuid:application_id>")
@required()
def application(application_id: uuid.UUID) -> str:
    found = call("intake", "GET", f"/applications/{application_id}")
    labels = forms.labels(found.get("outcome_kind"))
    names = catalogue_names() if found["kind"] == "conversion" else {}
    return render_template("window/application.html", application=found, labels=labels, names=names)


@blp.get("/applications/<uuid:application_id>/receipt")
@required()
def receipt(application_id: uuid.UUID) -> str:
    """The receipt (受理回执) of an application: printable on A4 or A5, and again later."""
    found = call("intake", "GET", f"/applications/{application_id}")
    unit = call("org", "GET", f"/units/{found['unit_code']}")
    base = current_app.config["CB_SETTINGS"].window_public_url.rstrip("/")
    qr = segno.make(f"{base}/applications/{application_id}", error="m")
    svg = qr.svg_inline(scale=3, border=2, title="扫码查看申请")
    paper = "a5" if request.args.get("paper") == "a5" else "a4"
    qr_markup = Markup(svg)  # noqa: S704 - segno's own SVG of our own address, no input
    return render_template(
        "window/receipt.html", application=found, unit=unit, qr=qr_markup, paper=paper
    )


@blp.post("/applications/<uuid:application_id>/withdraw")
@required(window=True)
def withdraw(application_id: uuid.UUID) -> Any:
    reason = request.form.get("reason", "").strip()
    try:
        call("intake", "POST", f"/applications/{application_id}/withdraw", json={"reason": reason})
    except ApiError as exc:
        if exc.status in (409, 422):
            found = call("intake", "GET", f"/applications/{application_id}")
            labels = forms.labels(found.get("outcome_kind"))
            return render_template(
                "window/application.html", application=found, labels=labels, withdraw_error=exc
            ), exc.status
        raise
    return redirect(url_for("window.application", application_id=application_id), 303)


@blp.route("/applications/<uuid:application_id>/resubmit", methods=["GET", "POST"])
@required(window=True)
def resubmit(application_id: uuid.UUID) -> Any:
    """A returned application corrected and sent to review again: the current version's
    data filled in, for the clerk to correct."""
    found = call("intake", "GET", f"/applications/{application_id}")
    kind = found.get("outcome_kind")
    context = {
        "application": found,
        "kind": kind,
        "fields": _outcome_fields(kind) if kind else [],
        "labels": forms.labels(kind),
    }
    if request.method == "GET":
        form = {f"outcome.{k}": v for k, v in found["data"].items()}
        return render_template("window/resubmit.html", form=form, **context)
    if found["kind"] == "account_opening":
        body: dict[str, Any] = {"learner": forms.learner_from(request.form)}
    else:
        body = {
            "outcome_kind": kind,
            "outcome": forms.outcome_from(request.form, kind or ""),
            "attachments": [
                *request.form.getlist("attachments"),
                *_uploaded_with_form(),
            ],
        }
    try:
        call("intake", "POST", f"/applications/{application_id}/resubmit", json=body)
    except ApiError as exc:
        if exc.status in (409, 422):
            return render_template(
                "window/resubmit.html", form=request.form, error=exc, **context
            ), exc.status
        raise
    return redirect(url_for("window.receipt", application_id=application_id), 303)


@blp.get("/applications/<uuid:application_id>/evidence/<sha256>")
@required()
def evidence(application_id: uuid.UUID, sha256: str) -> Response:
    """A piece of the application's evidence, streamed from intake as the file it is."""
    answer = call(
        "intake",
        "GET",
        f"/applications/{application_id}/attachments/{sha256}",
        raw=True,
        stream=True,
    )
    headers = {
        k: v
        for k, v in answer.headers.items()
        if k in ("Content-Type", "Content-Disposition", "Content-Length")
    }
    return Response(answer.iter_content(64 * 1024), headers=headers)


# --- the account --------------------------------------------------------------------------


@blp.get("/accounts/<account>")
@required()
def account(account: str) -> str:
    """The account, its balances and its ledger (by number within the subtree, or by the
    reference the learner's document gave this window)."""
    found = call("intake", "GET", f"/accounts/{account}")
    ledger = call(
        "intake",
        "GET",
        f"/accounts/{account}/ledger",
        params={"page": request.args.get("page", 1), "per_page": 20},
    )
    names = catalogue_names() if found.get("converted") else {}
    return render_template(
        "window/account.html", account=account, found=found, ledger=ledger, names=names
    )
