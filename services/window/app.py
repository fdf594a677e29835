"""The window front end's app factory: ``create_app(overrides=None)`` (served by gunicorn).

A back end for the front end: pages rendered on the server (Jinja, in Chinese), made nicer
by htmx where the browser runs it, working as plain forms where it does not. It holds no
database and no rule of its own: every page is made from the four APIs, called with the
signed-in person's token.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import redis
from flask import Flask, Response, g, redirect, render_template, request, url_for

from services.window import apis, assets, config, sessions, wording
from services.window.admin import blp as admin_blp
from services.window.apis import ApiError
from services.window.certificates import blp as certificates_blp
from services.window.conversion import blp as conversion_blp
from services.window.imports import blp as imports_blp
from services.window.public import blp as public_blp
from services.window.review import blp as review_blp
from services.window.signin import SignInAgain, person
from services.window.standards import blp as standards_blp
from services.window.window import blp as window_blp
from shared import metrics, tracing
from shared.clock import china_time
from shared.logs import configure_logging, request_id_var

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Pages show learners' (masked) data: never kept by a browser or a proxy; frames and
# objects only from here (the evidence viewer); no script from anywhere else.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
        "script-src 'self'; frame-src 'self'; object-src 'self'; "
        "connect-src 'self' http://127.0.0.1:* http://localhost:*; frame-ancestors 'self'"
    ),
}


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    settings = config.settings(overrides)
    configure_logging(config.SERVICE, settings.log_level)
    app = Flask(__name__)
    metrics.init_app(app, config.SERVICE, settings.metrics_token)  # first: ahead of sessions
    # Its calls to the four APIs carry the trace on: an application's starts at its POST here.
    tracing.init_app(app, config.SERVICE, settings, ["redis", "requests"])
    app.config.update(
        CB_SETTINGS=settings,
        MAX_CONTENT_LENGTH=max(settings.max_import_bytes, settings.max_attachment_bytes) + 2**16,
        TEMPLATES_AUTO_RELOAD=settings.env == "development",
    )
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
    app.extensions["window_redis"] = client
    sessions.init_app(app, client, settings.window_idle_seconds, settings.env == "production")
    apis.init_app(app, settings)
    assets.init_app(app)
    _wire(app, settings)
    for blp in (
        public_blp,
        window_blp,
        imports_blp,
        conversion_blp,
        standards_blp,
        review_blp,
        admin_blp,
        certificates_blp,
    ):
        app.register_blueprint(blp)
    return app


def _wire(app: Flask, settings: Any) -> None:
    app.jinja_env.globals.update(person=person, title=config.TITLE, settings=settings)
    app.jinja_env.filters.update(
        china_time=_china_time,
        pair=lambda value: (value, value),
        combine=lambda first, second: {**first, **second},
        pageargs=_page_args,
        **wording.FILTERS,
    )

    @app.before_request
    def _request_id() -> None:
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        request_id_var.set(g.request_id)

    @app.after_request
    def _headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        response.headers["X-Request-ID"] = g.get("request_id", "")
        return response

    @app.errorhandler(SignInAgain)
    def _sign_in_again(_exc: SignInAgain) -> Response:
        target = url_for("public.sign_in", next=request.full_path.rstrip("?"))
        if request.headers.get("HX-Request"):
            return Response(status=204, headers={"HX-Redirect": target})
        return redirect(target, 303)  # type: ignore[return-value]

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> tuple[str, int]:
        status = exc.status if exc.status in (403, 404, 409, 503) else 502
        return render_template("error.html", error=exc, status=status), status

    @app.errorhandler(400)
    def _bad_request(exc: Any) -> tuple[str, int]:
        error = ApiError(400, str(getattr(exc, "description", "")) or "请求无效。")
        return render_template("error.html", error=error, status=400), 400

    @app.errorhandler(404)
    def _not_found(_exc: Any) -> tuple[str, int]:
        error = ApiError(404, "没有找到这个页面。")
        return render_template("error.html", error=error, status=404), 404

    @app.route("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}


def _page_args(args: Any, page: int) -> str:
    """A listing's query string with another page number."""
    return urlencode({**{k: v for k, v in args.items() if k != "page"}, "page": page})


def _china_time(value: Any) -> str:
    return china_time(value) if value else ""
