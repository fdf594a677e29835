"""Prometheus metrics of a web app: requests by endpoint and status, their latency, and the
``/metrics`` page that serves them (and whatever else the process counts).

The endpoint label is the URL *rule* (``/api/v1/accounts/<number>``), never the path: a path
carries account numbers and ids. A request no rule matched is ``<unmatched>``.

Under gunicorn every worker is a process of its own: with ``PROMETHEUS_MULTIPROC_DIR`` set
(``deploy/gunicorn.conf.py`` sets and wipes it) the page adds up every worker's files.

``/metrics`` is not public: it answers a loopback address (the connection's own, whatever
X-Forwarded-For says) or a bearer token equal to ``CB_METRICS_TOKEN``; anyone else gets 404.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import threading
import time
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    make_wsgi_app,
    multiprocess,
)
from prometheus_client.exposition import ThreadingWSGIServer

UNMATCHED = "<unmatched>"
REQUESTS = Counter(
    "cb_http_requests",
    "HTTP requests answered, by service, URL rule, method and status",
    ["service", "endpoint", "method", "status"],
)
LATENCY = Histogram(
    "cb_http_request_duration_seconds",
    "Time to answer an HTTP request, by service, URL rule and method",
    ["service", "endpoint", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)


def init_app(app: Flask, service: str, token: str) -> None:
    """Count every request of ``app`` and serve ``/metrics`` (left out of the OpenAPI
    documents: it is no part of the API). Call it before any other ``before_request`` is
    registered: the page is answered ahead of them, since the scrape token is no JWT for
    auth to verify, and a scrape needs no session."""

    @app.before_request
    def _start() -> Response | None:
        g.cb_metrics_started = time.perf_counter()
        return metrics() if request.endpoint == "cb_metrics" else None

    @app.after_request
    def _count(response: Response) -> Response:
        started = g.pop("cb_metrics_started", None)
        if started is not None:
            rule = request.url_rule.rule if request.url_rule is not None else UNMATCHED
            LATENCY.labels(service, rule, request.method).observe(time.perf_counter() - started)
            REQUESTS.labels(service, rule, request.method, str(response.status_code)).inc()
        return response

    def metrics() -> Response:
        if not allowed(token):
            return Response("not found\n", status=404, mimetype="text/plain")
        return Response(exposition(), mimetype=CONTENT_TYPE_LATEST)

    app.add_url_rule("/metrics", "cb_metrics", metrics, methods=["GET"])


def allowed(token: str) -> bool:
    """A scraper on this machine, or one holding the scrape token."""
    if token_matches(request.headers.get("Authorization", ""), token):
        return True
    # The connection's address, from before ProxyFix put the forwarded client's there.
    original = request.environ.get("werkzeug.proxy_fix.orig", {}).get("REMOTE_ADDR")
    return is_loopback(original or request.environ.get("REMOTE_ADDR"))


def token_matches(authorization: str, token: str) -> bool:
    """``Authorization: Bearer <token>``, compared in constant time; never with no token set."""
    return bool(token) and hmac.compare_digest(authorization.encode(), f"Bearer {token}".encode())


def is_loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def exposition() -> bytes:
    """This process's metrics, or every worker's in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def protected_app(registry: CollectorRegistry, token: str) -> Any:
    """A WSGI app serving ``registry`` to loopback callers and holders of the scrape token,
    404 to anyone else (the exporter's and the workers' pages)."""
    app = make_wsgi_app(registry)

    def guarded(environ: dict[str, Any], start_response: Any) -> Any:
        if token_matches(environ.get("HTTP_AUTHORIZATION", ""), token) or is_loopback(
            environ.get("REMOTE_ADDR")
        ):
            return app(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]

    return guarded


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """A scrape every few seconds is not worth a log line each."""


def serve(app: Any, host: str, port: int, background: bool = True) -> Any:
    """Serve ``app`` on ``host:port`` (in a daemon thread when ``background``)."""
    server = make_server(host, port, app, ThreadingWSGIServer, handler_class=_QuietHandler)
    if not background:
        server.serve_forever()
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
