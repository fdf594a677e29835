"""The intake HTTP API: the service window's back end."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from flask import Response, g, json, request, send_file
from flask_smorest import Blueprint
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import FileStorage

from services.intake import (
    applications,
    attachments,
    corrections,
    idempotency,
    learners,
    ledger,
    serving,
)
from services.intake import schemas as s
from services.intake.context import context, db
from services.intake.conversion import applications as conversions
from services.intake.models import (
    Application,
)
from services.intake.scope import get_visible
from shared.auth import current_principal
from shared.errors import Conflict, FieldError, ValidationProblem
from shared.paging import paginate

blp = Blueprint("intake", __name__, description="Learning accounts and applications")
BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]
APPLICATION_SCHEMA = s.ApplicationSchema()  # schemas are costly to build: once per process
SUMMARY_FIELDS = tuple(s.ApplicationSummarySchema().fields)
IDEMPOTENCY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "maxLength": 200},
    "description": "a retried request with the same key gets the first answer",
}


# An upload's request body (evidence, an import's file): one multipart field, ``file``.
FILE_BODY = {
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            }
        }
    }
}


def uploaded_file() -> FileStorage:
    """The request's multipart field ``file``, or 422 naming it."""
    upload = request.files.get("file")
    if upload is None:
        raise ValidationProblem(
            "send the file as multipart field 'file'", [FieldError("file", "missing", "files")]
        )
    return upload


def present(application: Application) -> dict[str, Any]:
    """Everything ``ApplicationSchema`` shows, personal data masked."""
    learner, account = application.learner, application.account
    versions, events = application.versions, application.events
    current = versions[-1] if versions else None
    return {
        **{c: getattr(application, c) for c in SUMMARY_FIELDS},
        "learner": learner,
        "account_number": serving.shown_number(current_principal(), account),
        "data": current.data if current else {},
        "attachments": current.attachments if current else [],
        "evidence": attachments.described(db.session, current.attachments) if current else [],
        "versions": versions,
        "timeline": events,
        "handoff": "queued" if g.get("redis_available", True) else "delayed",
    }


def json_response(body: dict[str, Any], status: int, replayed: bool = False) -> Response:
    response = Response(
        json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json"
    )
    if replayed:
        response.headers["Idempotency-Replayed"] = "true"
    return response


def idempotent(endpoint: str, body: dict[str, Any], create: Callable[[], Application]) -> Response:
    """Run ``create`` once per Idempotency-Key; a retry gets the first answer, also a retry
    sent while the first was still running (a double click): it waits on the first's rows,
    and is refused by them (a conflict), or by the key's own unique row, once they commit."""
    principal, key = current_principal(), request.headers.get(idempotency.HEADER)
    digest = ""
    if key is not None:
        key = idempotency.check_key(key)
        digest = idempotency.request_digest(context().cipher, endpoint, body)
        replayed = idempotency.replay(db.session, principal.staff_id, key, digest)
        if replayed:
            return json_response(replayed[1], replayed[0], replayed=True)
    try:
        application = create()
        db.session.flush()
        answer = APPLICATION_SCHEMA.dump(present(application))
        if key is not None:
            idempotency.remember(db.session, principal.staff_id, key, endpoint, digest, 201, answer)
        db.session.commit()
    except (IntegrityError, Conflict):
        db.session.rollback()
        replayed = idempotency.replay(db.session, principal.staff_id, key, digest) if key else None
        if replayed is None:
            raise
        return json_response(replayed[1], replayed[0], replayed=True)
    return json_response(answer, 201)


@blp.post("/accounts")
@blp.arguments(s.LearnerInSchema)
@blp.response(201, s.ApplicationSchema)
@blp.alt_response(409, description="the document already has an account or an opening under way")
@blp.doc(security=BEARER, parameters=[IDEMPOTENCY])
def open_account(body: dict[str, Any]) -> Response:
    """Take an application to open a learning account (the number is issued on approval)."""
    principal = current_principal()
    return idempotent(
        "accounts",
        body,
        lambda: learners.open_account(
            db.session, context(), principal, learners.LearnerDetails(**body)
        ),
    )


@blp.post("/applications")
@blp.arguments(s.DepositInSchema)
@blp.response(201, s.ApplicationSchema)
@blp.alt_response(404, description="no such learning account in the caller's area")
@blp.alt_response(409, description="the learning account is not open")
@blp.doc(security=BEARER, parameters=[IDEMPOTENCY])
def take_application(body: dict[str, Any]) -> Response:
    """Take an application: now a deposit of a learning outcome into an open account."""
    principal = current_principal()
    if body["kind"] != "deposit":
        where = {
            "conversion": "POST /api/v1/conversions",
            "account_opening": "POST /api/v1/accounts",
        }
        raise ValidationProblem(
            "this endpoint takes deposits",
            [
                FieldError(
                    "kind",
                    f"{body['kind']} is taken at {where.get(body['kind'], 'no endpoint yet')}",
                )
            ],
        )
    deposit = applications.Deposit(body["outcome_kind"], body["outcome"], body["attachments"])
    field = "account_ref" if body.get("account_ref") else "account_number"
    return idempotent(
        "applications",
        body,
        lambda: applications.take_deposit(
            db.session, context(), principal, body[field], deposit, field
        ),
    )


@blp.get("/applications/<uuid:application_id>")
@blp.response(200, s.ApplicationSchema)
@blp.doc(security=BEARER)
def get_application(application_id: uuid.UUID) -> dict[str, Any]:
    """One application with every version and its timeline."""
    return present(get_visible(db.session, current_principal(), application_id))


@blp.get("/applications")
@blp.arguments(s.ApplicationListArgs, location="query")
@blp.response(200, s.ApplicationPageSchema)
@blp.alt_response(404, description="the unit named lies outside your subtree")
@blp.doc(security=BEARER)
def list_applications(args: dict[str, Any]) -> Any:
    """Applications taken in the caller's subtree, newest first; filtered, paginated."""
    page, per_page = args.pop("page"), args.pop("per_page")
    query = applications.list_query(db.session, current_principal(), **args)
    return paginate(db.session, query, page, per_page)


@blp.post("/applications/<uuid:application_id>/resubmit")
@blp.arguments(s.ResubmitSchema)
@blp.response(200, s.ApplicationSchema)
@blp.alt_response(409, description="only a returned application can be resubmitted")
@blp.doc(security=BEARER)
def resubmit(body: dict[str, Any], application_id: uuid.UUID) -> dict[str, Any]:
    """Correct a returned application and send it to review again; every version is kept.
    An account opening sends its corrected ``learner``; a deposit its ``outcome_kind`` (the
    same as before), ``outcome`` and ``attachments``; a conversion its ``conversion``."""
    details = learners.LearnerDetails(**body["learner"]) if body.get("learner") else None
    conversion = conversions.request_of(body["conversion"]) if body.get("conversion") else None
    deposit = (
        applications.Deposit(body["outcome_kind"], body.get("outcome") or {}, body["attachments"])
        if body.get("outcome_kind")
        else None
    )
    application = applications.resubmit(
        db.session, context(), current_principal(), application_id, deposit, details, conversion
    )
    db.session.flush()
    answer = present(application)
    db.session.commit()
    return answer


@blp.post("/applications/<uuid:application_id>/withdraw")
@blp.arguments(s.WithdrawSchema)
@blp.response(200, s.ApplicationSchema)
@blp.alt_response(409, description="already decided or withdrawn")
@blp.doc(security=BEARER)
def withdraw(body: dict[str, Any], application_id: uuid.UUID) -> dict[str, Any]:
    """Withdraw an application before its final decision."""
    application = applications.withdraw(
        db.session, current_principal(), application_id, body["reason"]
    )
    db.session.flush()
    answer = present(application)
    db.session.commit()
    return answer


@blp.post("/deposits/<uuid:application_id>/reversal")
@blp.arguments(s.WithdrawSchema)
@blp.response(201, s.LedgerEntrySchema)
@blp.alt_response(409, description="not an approved deposit, reversed already, or a conversion "
                  "stands on it")  # fmt: skip
@blp.doc(security=BEARER)
def reverse_deposit(body: dict[str, Any], application_id: uuid.UUID) -> Any:
    """Take back an approved deposit (its outcome found false): a reversal entry of its
    credits and hours, never an edit; a certificate stating it is suspended at once
    (administrators above the point; audited)."""
    entry = corrections.reverse_deposit(
        db.session, current_principal(), application_id, body["reason"]
    )
    db.session.commit()
    return entry, 201


@blp.get("/applications/<uuid:application_id>/attachments/<sha256>")
@blp.response(
    200,
    description="the file itself: application/pdf, image/png or image/jpeg, shown inline",
    content_type="application/octet-stream",
)
@blp.doc(security=BEARER)
def get_evidence(application_id: uuid.UUID, sha256: str) -> Response:
    """A piece of an application's evidence, streamed, for staff whose subtree holds the
    application (its reviewers and its window): 404 for anyone else."""
    application = get_visible(db.session, current_principal(), application_id)
    attachment, path = attachments.of_application(db.session, context(), application, sha256)
    name = f"{sha256[:16]}.{attachments.EXTENSIONS[attachment.content_type]}"
    response = send_file(
        path, mimetype=attachment.content_type, download_name=name, as_attachment=False
    )
    response.headers["Cache-Control"] = "private, no-store"  # evidence holds personal data
    return response


@blp.post("/attachments")
@blp.response(201, s.AttachmentSchema)
@blp.alt_response(200, schema=s.AttachmentSchema, description="the same content, already held")
@blp.alt_response(413, description="larger than the limit (10 MB)")
@blp.alt_response(415, description="not PDF, JPEG or PNG by content")
@blp.doc(security=BEARER, requestBody=FILE_BODY)
def upload_attachment() -> Any:
    """Upload evidence (multipart field ``file``); it is stored by its SHA-256."""
    principal = current_principal()
    upload = uploaded_file()
    attachment, created = attachments.store(db.session, context(), principal, upload.stream)
    db.session.commit()
    return attachment, 201 if created else 200


ACCOUNT_PARAM = {
    "name": "account",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "minLength": 1},
    "description": "the account's number (within the caller's subtree), or the account_ref "
    "that finding the learner by their document gave this window",
}


@blp.post("/learners/lookup")
@blp.arguments(s.LookupInSchema)
@blp.response(200, s.LookupSchema)
@blp.alt_response(404, description="no learning account holds this document")
@blp.doc(security=BEARER)
def lookup_learner(body: dict[str, str]) -> dict[str, Any]:
    """Find a learner by the document they present (the number travels in the body, never
    in a URL): any OPERATING point's window finds any learner of the province, other staff
    their subtree's. The answer's ``account_ref`` lets this window serve the learner."""
    principal = current_principal()
    found = serving.find(
        db.session, context(), principal, body["document_type"], body["document_number"]
    )
    return {
        "account": account_view(principal, found.account, found.learner),
        "account_ref": found.account_ref,
        "account_ref_expires_at": found.ref_expires_at,
        "opening_application_id": found.opening_application_id,
    }


def account_view(principal: Any, account: Any, learner: Any) -> dict[str, Any]:
    return {
        "number": serving.shown_number(principal, account),
        "status": account.status.value,
        "unit_code": account.unit_code,
        "opened_at": account.opened_at,
        "opened_by_import_id": account.opened_by_import_id,
        "learner": learner,
        "balances": ledger.balances(db.session, account),
        "converted": ledger.converted(db.session, account),
    }


@blp.get("/accounts/<account>")
@blp.response(200, s.AccountSchema)
@blp.doc(security=BEARER, parameters=[ACCOUNT_PARAM])
def get_account(account: str) -> dict[str, Any]:
    """A learning account: its learner (masked), its deposited balances by outcome kind and
    its converted credits by target."""
    principal = current_principal()
    found, learner = serving.reach(db.session, context(), principal, account)
    return account_view(principal, found, learner)


@blp.get("/accounts/<account>/ledger")
@blp.arguments(s.PageArgs, location="query")
@blp.response(200, s.LedgerPageSchema)
@blp.doc(security=BEARER, parameters=[ACCOUNT_PARAM])
def get_ledger(args: dict[str, int], account: str) -> Any:
    """The account's ledger, oldest first (append-only); each deposited outcome says which
    conversion holds it, if one does (``held_by``)."""
    found, _ = serving.reach(db.session, context(), current_principal(), account)
    page = paginate(db.session, ledger.ledger_query(found), args["page"], args["per_page"])
    ledger.mark_held(db.session, page["items"])
    return page
