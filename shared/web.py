"""What every service's Flask app has: settings, logs, request ids, errors, auth, OpenAPI
docs served from this machine, ``/healthz``, ``/readyz`` and ``/metrics``."""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import redis
import swagger_ui_bundle
from flask import Flask, Response, current_app, g, request, send_from_directory
from flask_smorest import Api, Blueprint
from marshmallow import Schema, fields
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter, UnicodeConverter

from shared import auth, errors, metrics, tracing
from shared.db import Database
from shared.logs import configure_logging, request_id_var
from shared.revocations import Revocations
from shared.schemas import INT32_MAX, INT64_MAX
from shared.settings import Settings

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class FieldErrorSchema(Schema):
    field = fields.String(metadata={"description": "dotted path of the field, _body for all"})
    location = fields.String(metadata={"description": "json, query, path, headers or files"})
    reason = fields.String()


class ProblemSchema(Schema):
    """RFC 9457 problem details, as every error of every service is answered."""

    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    instance = fields.String()
    request_id = fields.String()
    current_state = fields.String(metadata={"description": "on 409 invalid-state only"})
    errors = fields.List(fields.Nested(FieldErrorSchema))


class ServiceApi(Api):  # type: ignore[misc]
    """flask-smorest's Api documenting our problem shape; ``shared.errors`` answers errors."""

    ERROR_SCHEMA = ProblemSchema
    DEFAULT_RESPONSE_CONTENT_TYPE = "application/json"

    def _register_error_handlers(self) -> None:
        errors.init_app(self._app)

    def _init_spec(self, **kwargs: Any) -> None:
        from shared import apidoc

        plugins = [*(kwargs.pop("extra_plugins", None) or ()), apidoc.SharedResponses()]
        super()._init_spec(extra_plugins=plugins, **kwargs)
        self.ma_plugin.converter.add_attribute_function(apidoc.decimal_as_string)

    def _register_responses(self) -> None:
        from shared import apidoc

        apidoc.register_problem_responses(
            self.spec, self.ERROR_SCHEMA, self.DEFAULT_ERROR_RESPONSE_NAME
        )


def flask_config(settings: Settings, title: str, description: str) -> dict[str, Any]:
    return {
        "DATABASE_URL": settings.database_url,
        "DATABASE_POOL_SIZE": settings.web_db_pool_size,
        "DATABASE_MAX_OVERFLOW": settings.web_db_max_overflow,
        "MAX_CONTENT_LENGTH": settings.max_body_bytes,
        "API_TITLE": title,
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        "OPENAPI_SWAGGER_UI_URL": "/docs/assets/",
        "API_SPEC_OPTIONS": {
            "info": {"description": description},
            "components": {
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
                }
            },
        },
        "JSON_AS_ASCII": False,
        "CB_SETTINGS": settings,
    }


def _health_blueprint(db: Database) -> Blueprint:
    blp = Blueprint("health", __name__, description="Liveness and readiness")

    @blp.route("/healthz")
    @blp.response(200)
    def healthz() -> dict[str, str]:
        """Alive: the process answers."""
        return {"status": "ok"}

    @blp.route("/readyz")
    @blp.response(200)
    @blp.alt_response(503, description="the database or Redis does not answer")
    def readyz() -> Any:
        """Ready: this service's database and Redis both answer."""
        checks: dict[str, str] = {}
        for name, probe in (("database", db.ping), ("redis", _redis_ping)):
            try:
                probe()
                checks[name] = "ok"
            except Exception as exc:
                checks[name] = f"unavailable: {type(exc).__name__}"
        ok = all(v == "ok" for v in checks.values())
        return {"status": "ok" if ok else "unavailable", "checks": checks}, 200 if ok else 503

    return blp


def _redis_ping() -> None:
    from flask import current_app

    current_app.extensions["cb_redis"].ping()


class SegmentConverter(UnicodeConverter):
    """A path segment (the default converter) that cannot hold NUL: such a path names
    nothing, so it is 404 instead of a 500 from PostgreSQL."""

    def __init__(self, url_map: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(url_map, *args, **kwargs)
        self.regex = self.regex.replace("[^/]", "[^/\x00]")


class IdConverter(IntegerConverter):
    """``<int:...>`` within PostgreSQL's ``integer``: a larger id names nothing (404)."""

    def __init__(self, url_map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", INT32_MAX)
        super().__init__(url_map, *args, **kwargs)


class BigIdConverter(IdConverter):
    """``<bigint:...>``, for the ids of ``bigint`` columns."""

    def __init__(self, url_map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", INT64_MAX)
        super().__init__(url_map, *args, **kwargs)


def create_service_app(
    name: str,
    settings: Settings,
    db: Database,
    blueprints: Iterable[Blueprint],
    title: str,
    description: str,
    body_limits: Mapping[str, int] | None = None,
) -> Flask:
    """The Flask app of service ``name`` with everything services share wired in.

    ``body_limits``: endpoints whose request body may be larger than ``max_body_bytes``
    (uploads), by endpoint name."""
    configure_logging(name, settings.log_level)
    app = Flask(name)
    app.config.update(flask_config(settings, title, description))
    app.url_map.converters.update(default=SegmentConverter, int=IdConverter, bigint=BigIdConverter)
    app.extensions["cb_body_limits"] = dict(body_limits or {})
    metrics.init_app(app, name, settings.metrics_token)
    tracing.init_app(app, name, settings, ["sqlalchemy", "redis"])  # before the engine
    db.init_app(app)
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
    app.extensions["cb_redis"] = client
    revocations = Revocations(client, settings.access_token_ttl, settings.revocation_cache_seconds)
    app.extensions["cb_revocations"] = revocations
    _request_ids(app)
    app.before_request(_limit_body)
    public_pem = settings.key_file(settings.jwt_public_key_file, "jwt_public.pem").read_bytes()
    verifier = auth.TokenVerifier(public_pem, settings.jwt_issuer, settings.jwt_audience)
    auth.init_app(app, verifier, revocations.check)
    api = ServiceApi(app)
    api.register_blueprint(_health_blueprint(db))
    for blp in blueprints:
        api.register_blueprint(blp, url_prefix="/api/v1")
    app.extensions["cb_api"] = api
    _behind_proxies(app, settings.trusted_proxy_hops)
    _no_sniffing(app)
    assets = swagger_ui_bundle.swagger_ui_path

    @app.route("/docs/assets/<path:filename>")
    def _swagger_assets(filename: str) -> Response:
        return send_from_directory(assets, filename)

    return app


BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _limit_body() -> None:
    """The endpoint's body limit, enforced on a streamed (chunked) body too: read at most one
    byte past it, and answer 413 there instead of reading on and failing later."""
    limits = current_app.extensions["cb_body_limits"]
    if request.endpoint in limits:
        request.max_content_length = limits[request.endpoint]
    if request.method not in BODY_METHODS or request.content_length is not None:
        return
    limit = request.max_content_length or current_app.config["MAX_CONTENT_LENGTH"]
    if "wsgi.input_terminated" not in request.environ:
        return  # a server that cannot end a streamed body: werkzeug hands views none
    body = request.environ["wsgi.input"].read(limit + 1)
    if len(body) > limit:
        # The rest of the body is never read: the connection cannot be used again.
        raise errors.ContentTooLarge(
            f"the request body is larger than this endpoint accepts ({limit} bytes)",
            headers={"Connection": "close"},
        )
    request.environ["wsgi.input"] = io.BytesIO(body)
    request.environ["CONTENT_LENGTH"] = str(len(body))


def _behind_proxies(app: Flask, hops: int) -> None:
    """Believe the last ``hops`` entries of X-Forwarded-For (a front end's server forwarding
    its clerk's address): ``request.remote_addr`` is then the client's. Never by default,
    since anyone can send the header."""
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops)  # type: ignore[method-assign]


def _no_sniffing(app: Flask) -> None:
    @app.after_request
    def _nosniff(response: Response) -> Response:
        # A browser must take every answer as the type it is sent as: never run an uploaded
        # file or an error's text as a script or a page.
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def _request_ids(app: Flask) -> None:
    @app.before_request
    def _bind() -> None:
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        request_id_var.set(g.request_id)

    @app.after_request
    def _echo(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "")
        return response

    @app.teardown_request
    def _unbind(_exc: BaseException | None) -> None:
        request_id_var.set(None)


# The media types of the spreadsheet files the services hand out (templates, exports).
SPREADSHEET_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def download(content: bytes, file_format: str, filename: str) -> Response:
    """A CSV or XLSX file for the browser to save as ``filename``."""
    response = Response(content, mimetype=SPREADSHEET_TYPES[file_format])
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
