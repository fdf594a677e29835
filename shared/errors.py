"""One JSON error shape for every service: RFC 9457 problem details with field errors.

{"type": "https://creditbank.zj/problems/validation", "title": "Unprocessable Content",
 "status": 422, "detail": "...", "instance": "/api/v1/...", "request_id": "...",
 "errors": [{"field": "name", "location": "json", "reason": "Missing data for required field."}]}
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from flask import Flask, Response, json, request
from werkzeug.exceptions import HTTPException

from shared.logs import request_id_var

log = logging.getLogger(__name__)
PROBLEM_BASE = "https://creditbank.zj/problems/"
PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class FieldError:
    field: str
    reason: str
    location: str = "json"


class Problem(Exception):
    """An error the API reports to its caller; raise it from services or views."""

    status = 400
    kind = "bad-request"
    title = "Bad Request"

    def __init__(
        self,
        detail: str,
        errors: Iterable[FieldError] = (),
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors)
        self.headers = dict(headers or {})
        self.extra = extra

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.kind,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        body.update(self.extra)
        if self.errors:
            body["errors"] = [asdict(e) for e in self.errors]
        return body


class ValidationProblem(Problem):
    status, kind, title = 422, "validation", "Unprocessable Content"


class Unauthorized(Problem):
    status, kind, title = 401, "unauthorized", "Unauthorized"
    error: str | None = None  # RFC 6750's error code; none when no token was sent

    def __init__(self, detail: str = "a valid bearer token is required", **kw: Any) -> None:
        challenge = 'Bearer realm="creditbank"'
        if self.error:
            challenge += f', error="{self.error}", error_description="{_quotable(detail)}"'
        kw.setdefault("headers", {"WWW-Authenticate": challenge})
        super().__init__(detail, **kw)


class InvalidToken(Unauthorized):
    """A bearer token that is no longer (or never was) good: expired, forged, or dead because
    its account was deactivated or its sign-in revoked. Every service answers it alike."""

    error = "invalid_token"


def _quotable(text: str) -> str:
    # RFC 6750 §3: error_description is printable ASCII without '"' and '\'.
    return "".join(c for c in text if " " <= c <= "~" and c not in '"\\')


class Forbidden(Problem):
    status, kind, title = 403, "forbidden", "Forbidden"


class NotFound(Problem):
    status, kind, title = 404, "not-found", "Not Found"


class Conflict(Problem):
    status, kind, title = 409, "conflict", "Conflict"


class InvalidState(Conflict):
    """A step that the current state does not allow; names the current state."""

    kind = "invalid-state"

    def __init__(self, detail: str, current_state: str, **kw: Any) -> None:
        super().__init__(detail, current_state=current_state, **kw)


class ContentTooLarge(Problem):
    status, kind, title = 413, "content-too-large", "Content Too Large"


class TooManyRequests(Problem):
    status, kind, title = 429, "too-many-requests", "Too Many Requests"

    def __init__(self, detail: str, retry_after: int, **kw: Any) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)}, **kw)


class ServiceUnavailable(Problem):
    status, kind, title = 503, "unavailable", "Service Unavailable"


def field_errors(messages: Any, location: str = "json", prefix: str = "") -> list[FieldError]:
    """Flatten marshmallow/webargs messages into a list of ``FieldError``.

    Nested fields are dotted (``window.address``) and list items numbered (``rows.3.name``).
    """
    if isinstance(messages, str):
        return [FieldError(prefix or "_body", messages, location)]
    if isinstance(messages, list | tuple):
        if all(isinstance(m, str) for m in messages):
            return [FieldError(prefix or "_body", m, location) for m in messages]
        out: list[FieldError] = []
        for m in messages:
            out.extend(field_errors(m, location, prefix))
        return out
    out = []
    for key, value in dict(messages).items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if key == "_schema":
            name = prefix or "_body"
        out.extend(field_errors(value, location, name))
    return out


def problem_response(problem: Problem) -> Response:
    body = problem.body()
    body.setdefault("instance", request.path)
    rid = request_id_var.get()
    if rid:
        body["request_id"] = rid
    response = Response(
        json.dumps(body, ensure_ascii=False), status=problem.status, mimetype=PROBLEM_JSON
    )
    for key, value in problem.headers.items():
        response.headers[key] = value
    return response


def _from_http_exception(exc: HTTPException) -> Problem:
    problem = Problem(exc.description or exc.name)
    problem.status = exc.code or 500
    problem.title = exc.name
    problem.kind = exc.name.lower().replace(" ", "-")
    data = getattr(exc, "data", None) or {}
    messages = data.get("messages")
    if messages:
        for location, fields in messages.items():
            problem.errors.extend(field_errors(fields, location))
        if exc.code == 422:
            problem.kind = "validation"
            problem.detail = "the request does not match its schema; see errors"
    if exc.code == 400 and "json" in str(messages or exc.description).lower():
        problem.kind = "malformed-json"
        problem.detail = "the request body is not valid JSON"
    if exc.code == 413:
        problem.detail = "the request body is larger than this endpoint accepts"
    if exc.code == 405:
        problem.headers["Allow"] = ", ".join(getattr(exc, "valid_methods", None) or [])
    headers = data.get("headers") or {}
    problem.headers.update(headers)
    return problem


def init_app(app: Flask) -> None:
    """Answer every error of ``app`` in the problem-details shape."""

    @app.errorhandler(Problem)
    def _problem(exc: Problem) -> Response:
        return problem_response(exc)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        return problem_response(_from_http_exception(exc))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error")
        problem = Problem("an unexpected error occurred; it has been logged")
        problem.status, problem.kind, problem.title = 500, "internal", "Internal Server Error"
        return problem_response(problem)
