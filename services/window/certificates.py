"""Certificates (学习成果证明) in the window.

For anyone, without signing in: a certificate's verification page (``/v/<id>``, what its QR
code opens: what was signed and the bank's verdict on it now, never anything read from a
PDF), the check of the QR payload the code carries after ``#``, a page to verify a pasted
QR payload or an uploaded credential, and the bank's published documents under the
addresses its credentials name (the issuer, the key list, the status lists).

For staff: the application at the window (the whole record or chosen ledger entries), the
account's certificates with their verification page and printable PDF, and a list of the
caller's subtree's certificates to suspend, reinstate or revoke one, with a reason.

Every verdict, scope and rule is intake's (its certificate API); a refusal is shown as it
gave it, beside the field it names."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response as BaseResponse

from services.window import forms
from services.window.apis import ApiError, apis, problem_of
from services.window.signin import SignInAgain, call, person, required

blp = Blueprint("certificates", __name__)
PURPOSES = ("revocation", "suspension")
# intake's names of the three changes of status, as its addresses spell them
CHANGES = {
    "suspension": ("暂停", "证明已暂停：核查期间，核验页面显示“已暂停”。"),
    "reinstatement": ("恢复", "证明已恢复有效。"),
    "revocation": ("撤销", "证明已撤销：核验页面显示“已撤销”及理由。"),
}
# Which changes a certificate's page offers in each status (intake decides and may refuse).
OFFERS = {
    "valid": ("suspension", "revocation"),
    "suspended": ("reinstatement", "revocation"),
    "revoked": (),
}
KEPT_HEADERS = ("Content-Type", "Cache-Control", "ETag", "Last-Modified", "Expires")
PAGE_ADDRESS = re.compile(r"/v/([0-9a-fA-F-]{36})/?$")
MAX_UPLOAD = 300 * 1024  # intake's limit on a text to verify
LABELS = {"reason": "理由", "text": "证明内容", "number": "证明编号"}


def _public(method: str, path: str, **kw: Any) -> Any:
    """intake's answer to anyone (no token): its JSON, or ``ApiError``."""
    answer = apis()["intake"].call(method, path, None, **kw)
    if answer.status_code >= 400:
        raise problem_of(answer)
    return answer.json()


def _passed_on(path: str) -> Response:
    """A document intake publishes, passed on as intake sent it (its caching headers too):
    verifiers elsewhere read it, so any origin may."""
    answer = apis()["intake"].call("GET", path, None)
    if answer.status_code >= 400:
        raise problem_of(answer)
    headers = {k: v for k, v in answer.headers.items() if k in KEPT_HEADERS}
    headers["Access-Control-Allow-Origin"] = "*"
    return Response(answer.content, status=answer.status_code, headers=headers)


# --- what the bank publishes, under the addresses its credentials name -------------------


@blp.get("/certificates/keys.json")
def key_list() -> Response:
    return _passed_on("/certificate-keys")


@blp.get("/certificates/status/<purpose>")
def status_list(purpose: str) -> Response:
    if purpose not in PURPOSES:
        abort(404)
    return _passed_on(f"/status-lists/{purpose}")


@blp.get("/issuer")
def issuer() -> Response:
    """The issuer's profile (its credentials' ``issuer.id``): intake publishes none, so it is
    the key list's controller, named as its credentials name it."""
    keys = _public("GET", "/certificate-keys")
    profile = {
        "@context": [
            "https://www.w3.org/ns/credentials/v2",
            "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
        ],
        "id": keys["controller"],
        "type": ["Profile"],
        "name": "浙江省终身教育学分银行",
        "url": current_app.config["CB_SETTINGS"].window_public_url.rstrip("/") + "/verify",
    }
    response = Response(_json(profile), mimetype="application/json")
    response.headers.update({"Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"})
    return response


def _json(document: Any) -> str:
    return json.dumps(document, ensure_ascii=False)


# --- the verification page ---------------------------------------------------------------


def _certificate(certificate_id: uuid.UUID) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = _public("GET", f"/certificates/{certificate_id}")
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise
    return found


@blp.get("/v/<uuid:certificate_id>")
def page(certificate_id: uuid.UUID) -> tuple[str, int]:
    """What its QR code opens: the bank's verdict on the certificate now, and what was
    signed (the reader compares its name and number with the paper)."""
    found = _certificate(certificate_id)
    if found is None:
        return render_template("certificates/not_found.html"), 404
    return render_template(
        "certificates/verdict.html", certificate=found, verdict=found["verdict"]
    ), 200


@blp.post("/v/<uuid:certificate_id>/qr")
def qr_check(certificate_id: uuid.UUID) -> tuple[str, int]:
    """The QR payload the page's address carried after ``#`` (sent by app.js): whether it
    is this certificate's, by the bank's verdict on it with this certificate's number."""
    found = _certificate(certificate_id)
    if found is None:
        abort(404)
    payload = request.form.get("payload", "").strip()
    verdict = None
    if payload:
        try:
            body = {"text": payload, "number": found["number"]}
            verdict = _public("POST", "/verify", json=body)
        except ApiError as exc:
            if exc.status != 422:  # 422: too long to be a certificate's
                raise
            verdict = {"outcome": "not_genuine", "reasons": []}
    signed = _signed_number(verdict) if verdict else None
    ours = verdict is not None and verdict["outcome"] != "not_genuine" and signed == found["number"]
    return render_template(
        "certificates/qr_check.html", verdict=verdict, ours=ours, number=found["number"]
    ), 200


def _signed_number(verdict: dict[str, Any]) -> str | None:
    signed = verdict.get("facts") or verdict.get("claims") or {}
    return signed.get("number")


@blp.get("/v/<uuid:certificate_id>/pdf")
def pdf(certificate_id: uuid.UUID) -> Response:
    """The printable A4 PDF, as intake renders it (with the person's token when signed in;
    intake says who may have it)."""
    path = f"/certificates/{certificate_id}/pdf"
    if person() is not None:
        answer = call("intake", "GET", path, raw=True, stream=True)
    else:
        answer = apis()["intake"].call("GET", path, None, stream=True)
        if answer.status_code == 401:
            raise SignInAgain()
        if answer.status_code >= 400:
            raise problem_of(answer)
    keep = ("Content-Type", "Content-Disposition", "Content-Length")
    headers = {k: v for k, v in answer.headers.items() if k in keep}
    return Response(answer.iter_content(64 * 1024), headers=headers)


# --- verifying what someone presents -----------------------------------------------------


def presented_text(text: str) -> str | BaseResponse:
    """What the reader pasted, as the bank verifies it: a scanned address's QR payload (after
    ``#``, percent-encoded); a certificate's address without one goes to its page."""
    text = text.strip()
    if not text.lower().startswith(("http://", "https://")):
        return text
    parts = urlsplit(text)
    if parts.fragment:
        return unquote(parts.fragment).strip()
    found = PAGE_ADDRESS.search(parts.path)
    if found:
        try:
            return redirect(url_for("certificates.page", certificate_id=uuid.UUID(found[1])), 303)
        except ValueError:
            pass
    return text


def _uploaded() -> str | None:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return None
    return upload.stream.read(MAX_UPLOAD + 1).decode("utf-8", errors="replace")


@blp.route("/verify", methods=["GET", "POST"])
def verify() -> Any:
    """Paste a QR payload (or the address a phone scanned) or choose a credential file, and
    the number printed on the paper if there is one: the bank's verdict."""
    form = {k: request.form.get(k, "").strip() for k in ("text", "number")}
    if request.method == "GET":
        return render_template("certificates/verify.html", form=form, errors={})
    text = _uploaded() or form["text"]
    if not text:
        errors = {"text": "请粘贴二维码内容，或选择证明文件"}
        return render_template("certificates/verify.html", form=form, errors=errors), 422
    presented = presented_text(text)
    if isinstance(presented, BaseResponse):
        return presented
    body = {"text": presented, **({"number": form["number"]} if form["number"] else {})}
    try:
        verdict = _public("POST", "/verify", json=body)
    except ApiError as exc:
        if exc.status != 422:
            raise
        errors = exc.by_field()
        return render_template("certificates/verify.html", form=form, errors=errors), 422
    return render_template(
        "certificates/verdict.html", certificate=None, verdict=verdict, number=form["number"]
    )


# --- at the window: the application, the account's certificates --------------------------


def account_certificates(account: str) -> list[dict[str, Any]] | None:
    """The account's certificates, newest first, for its page (a Jinja global, so that the
    account's own view needs no change); None if intake did not say (the page still shows
    the account, and says the certificates cannot be shown now)."""
    params = {"account": account, "per_page": 100}
    try:
        found = call("intake", "GET", "/certificates", params=params)
    except ApiError:
        return None
    return list(found["items"])


def _ledger(account: str) -> list[dict[str, Any]]:
    params = {"per_page": 100, "page": request.args.get("page", 1)}
    return list(call("intake", "GET", f"/accounts/{account}/ledger", params=params)["items"])


def entry_errors(exc: ApiError, chosen: list[int]) -> dict[str, str]:
    """intake's field errors by the form's fields: ``entries.2`` is the third entry chosen,
    shown beside that entry (``entry-<id>``)."""
    errors: dict[str, str] = {}
    for name, text in exc.by_field().items():
        head, _, index = name.partition(".")
        if head == "entries" and index.isdigit() and int(index) < len(chosen):
            name = f"entry-{chosen[int(index)]}"
        errors[name] = text
    return errors


@blp.route("/accounts/<account>/certificate", methods=["GET", "POST"])
@required(window=True)
def apply(account: str) -> Any:
    """The certificate application: of the whole record, or of the entries chosen; what it
    states is what the ledger holds when it is taken. It ends on the receipt."""
    found = call("intake", "GET", f"/accounts/{account}")
    context = {"account": account, "found": found, "ledger": _ledger(account)}
    if request.method == "GET":
        form = {"scope": "whole"}
        return render_template(
            "certificates/apply.html", form=form, key=forms.idempotency_key(), errors={}, **context
        )
    key = forms.idempotency_key(request.form)
    chosen = [int(e) for e in request.form.getlist("entries") if e.isdigit()]
    body: dict[str, Any] = {
        ("account_ref" if account.startswith("ar1.") else "account_number"): account
    }
    if request.form.get("scope") == "chosen":
        body["entries"] = chosen
    if request.form.get("purpose", "").strip():
        body["purpose"] = request.form["purpose"].strip()
    try:
        taken = call(
            "intake",
            "POST",
            "/certificate-applications",
            json=body,
            headers={"Idempotency-Key": key},
        )
    except ApiError as exc:
        if exc.status in (409, 422):
            shown = {"form": request.form, "chosen": chosen, "key": key, "error": exc}
            return render_template(
                "certificates/apply.html", errors=entry_errors(exc, chosen), **shown, **context
            ), exc.status
        raise
    return redirect(url_for("window.receipt", application_id=taken["id"]), 303)


# --- for staff: the subtree's certificates, suspended, reinstated, revoked ----------------


@blp.get("/certificates")
@required()
def listing() -> tuple[str, int]:
    """The certificates taken or issued in the caller's subtree, newest first."""
    params: dict[str, Any] = {"page": request.args.get("page", 1), "per_page": 20}
    if request.args.get("account", "").strip():
        params["account"] = request.args["account"].strip()
    try:
        found = call("intake", "GET", "/certificates", params=params)
    except ApiError as exc:
        if exc.status not in (404, 422):
            raise
        empty = {"items": [], "page": 1, "per_page": 20, "total": 0}
        shown = {"page": empty, "params": params, "error": exc}
        return render_template("certificates/list.html", **shown), exc.status
    return render_template("certificates/list.html", page=found, params=params, error=None), 200


def _manage_page(
    certificate_id: uuid.UUID, failed: str | None = None, error: ApiError | None = None
) -> tuple[str, int]:
    found = _certificate(certificate_id)
    if found is None:
        abort(404)
    context = {
        "certificate": found,
        "offers": OFFERS.get(found["status"], ()),
        "changes": CHANGES,
        "failed": failed,
        "error": error,
        "form": request.form if error else {},
        "labels": LABELS,
    }
    status = error.status if error else 200
    return render_template("certificates/manage.html", **context), status


@blp.get("/certificates/<uuid:certificate_id>")
@required()
def manage(certificate_id: uuid.UUID) -> tuple[str, int]:
    return _manage_page(certificate_id)


@blp.post("/certificates/<uuid:certificate_id>/<change>")
@required()
def change(certificate_id: uuid.UUID, change: str) -> Any:
    """Suspend, reinstate or revoke, with a reason: intake decides who may (the issuing unit
    or one above it) and from which status."""
    if change not in CHANGES:
        abort(404)
    reason = request.form.get("reason", "").strip()
    body = {"reason": reason} if reason else {}  # none: intake says it is required
    try:
        call("intake", "POST", f"/certificates/{certificate_id}/{change}", json=body)
    except ApiError as exc:
        if exc.status in (403, 404, 409, 422):
            return _manage_page(certificate_id, change, exc)
        raise
    flash(CHANGES[change][1])
    return redirect(url_for("certificates.manage", certificate_id=certificate_id), 303)


@blp.record_once
def _globals(state: Any) -> None:
    state.app.jinja_env.globals["account_certificates"] = account_certificates
