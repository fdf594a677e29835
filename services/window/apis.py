"""One small client per API the window calls (org, intake, review, notify), server to server
with the signed-in person's own token, so that every rule, scope and error stays in the
service that owns it. An answer that is an error becomes ``ApiError`` carrying the problem's
field errors, which the pages show beside the fields they name."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import requests
from flask import current_app, g, request

log = logging.getLogger(__name__)
SERVICES = ("org", "intake", "review", "notify")


@dataclass
class ApiError(Exception):
    """An API's refusal (4xx) or failure (5xx, unreachable), as RFC 9457 problem details."""

    status: int
    detail: str
    errors: list[dict[str, str]] = field(default_factory=list)
    problem: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status}: {self.detail}"

    def by_field(self) -> dict[str, str]:
        """Each named field's reason, for the form that sent it (``outcome.hours`` and the
        like keep their dotted names)."""
        reasons: dict[str, str] = {}
        for error in self.errors:
            name = error.get("field") or "_body"
            reasons[name] = "；".join(filter(None, (reasons.get(name), error.get("reason"))))
        return reasons


class Api:
    """One service's API: its base URL and a pooled HTTP session (keep-alive)."""

    def __init__(self, name: str, base_url: str, timeout: float) -> None:
        self.name, self.base_url, self.timeout = name, base_url.rstrip("/"), timeout
        self.http = requests.Session()
        self._document: dict[str, Any] | None = None

    def document(self) -> dict[str, Any]:
        """The service's OpenAPI document (what its schemas require and allow), read once per
        process: the forms take their choices and required fields from it."""
        if self._document is None:
            try:
                answer = self.http.get(f"{self.base_url}/openapi.json", timeout=self.timeout)
                answer.raise_for_status()
            except requests.RequestException as exc:
                raise ApiError(503, f"{self.name} 服务暂时无法访问，请稍后重试。") from exc
            self._document = answer.json()
        return self._document

    def schema(self, name: str) -> dict[str, Any]:
        return dict(self.document().get("components", {}).get("schemas", {}).get(name, {}))

    def call(self, method: str, path: str, token: str | None, **kw: Any) -> requests.Response:
        headers = {**kw.pop("headers", {}), **_forwarded()}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            return self.http.request(
                method, f"{self.base_url}/api/v1{path}", headers=headers, timeout=self.timeout, **kw
            )
        except requests.RequestException as exc:
            log.warning("API unreachable", extra={"api": self.name, "error": type(exc).__name__})
            raise ApiError(503, f"{self.name} 服务暂时无法访问，请稍后重试。") from exc


def _forwarded() -> dict[str, str]:
    """The request id, so one person's request can be followed through every service, and
    the clerk's address, for org's sign-in throttle."""
    headers = {"X-Request-ID": g.get("request_id", "")}
    if request.remote_addr:
        headers["X-Forwarded-For"] = request.remote_addr
    return headers


def problem_of(response: requests.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    detail = str(body.get("detail") or response.reason or "error")
    return ApiError(response.status_code, detail, list(body.get("errors") or []), body)


def apis() -> dict[str, Api]:
    return current_app.extensions["window_apis"]  # type: ignore[no-any-return]


def init_app(app: Any, settings: Any) -> None:
    urls = {name: getattr(settings, f"{name}_url") for name in SERVICES}
    app.extensions["window_apis"] = {
        name: Api(name, url, settings.window_api_timeout) for name, url in urls.items()
    }
