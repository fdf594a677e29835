"""OpenTelemetry traces: one application followed across the web apps, the outbox, the relays,
the Celery workers, PostgreSQL and Redis.

Off unless ``CB_OTLP_ENDPOINT`` names an OTLP/HTTP collector (``http://collector:4318``):
then every process calls ``configure`` once, as it starts (a web app in its factory, which
gunicorn runs in each worker after the fork; a Celery pool process in ``worker_process_init``,
since the prefork pool would inherit a dead export thread; a relay in its ``main``), and its
spans are exported in batches. Off, nothing is instrumented and no span is made: not even the
ids for the logs, which would cost every request and task CPU for traces nobody can read
(bench/tracing_overhead.py measures both).

The outbox breaks the automatic propagation: a message is published by the relay after the
request that wrote it has ended. So ``enqueue`` stores the current span's W3C
``traceparent`` in the row (``current_traceparent``), and the relay publishes each row inside
a span continuing it (``restored``), injecting the context into the message's headers, where
the worker's Celery instrumentation finds it.

No personal data goes into a span: Redis commands are recorded as ``SET ? ?`` by the
instrumentation itself, SQL as its text with placeholders (never the parameters), and URLs
here without their query string (a staff search carries a name). ``tests/integration/
test_tracing.py`` reads every exported attribute for the test learner's data.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shared.settings import Settings

log = logging.getLogger(__name__)
TRACES_PATH = "/v1/traces"
# Never traced: probes and scrapes, every few seconds, would bury the applications' traces.
UNTRACED_URLS = "healthz,readyz,metrics,static/"
APPLICATION_ID = "cb.application_id"
_W3C = TraceContextTextMapPropagator()
_configured: dict[str, Any] = {}


def enabled(settings: Settings) -> bool:
    return bool(settings.otlp_endpoint)


def traces_url(endpoint: str) -> str:
    """The collector's base URL (``CB_OTLP_ENDPOINT``) with the traces path added, as the
    standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` is read; a URL already ending in it is kept."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith(TRACES_PATH) else endpoint + TRACES_PATH


def configure(
    service: str, process: str, settings: Settings, instrument: Iterable[str] = ()
) -> bool:
    """Export this process's spans as ``cb-<service>`` (its ``cb.process``: web, worker,
    relay) and switch on the instrumentations named (``sqlalchemy``, ``redis``, ``celery``,
    ``requests``); whether tracing is on. Once per process: a second call (the tests' apps,
    several in one process) only adds instrumentations not yet on."""
    if not enabled(settings):
        return False
    if not _configured:
        _install_provider(service, process, settings.otlp_endpoint)
    for name in instrument:
        if name not in _configured.setdefault("instrumented", set()):
            _INSTRUMENTS[name]()
            _configured["instrumented"].add(name)
    return True


def _install_provider(service: str, process: str, endpoint: str) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create(
        {
            "service.name": f"cb-{service}",
            "service.namespace": "creditbank",
            "cb.process": process,
        }
    )
    provider = TracerProvider(resource=resource)
    # The batch's schedule and size come from the standard OTEL_BSP_* variables.
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_url(endpoint))))
    trace.set_tracer_provider(provider)
    _configured["provider"] = provider
    log.info("tracing on", extra={"otlp_endpoint": traces_url(endpoint)})


def shutdown() -> None:
    """Export what is still batched: a pool process may exit without running atexit."""
    provider = _configured.get("provider")
    if provider is not None:
        provider.shutdown()


def _sqlalchemy() -> None:
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    # Engines made from now on (every process makes its engines after configure). 0.66b1
    # declares SQLAlchemy < 2.1 and would refuse 2.1 silently; it hooks the engine events 2.1
    # still has, and tests/integration/test_tracing.py sees its spans.
    SQLAlchemyInstrumentor().instrument(enable_commenter=False, skip_dep_check=True)


def _redis() -> None:
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    RedisInstrumentor().instrument()


def _celery() -> None:
    from opentelemetry.instrumentation.celery import CeleryInstrumentor

    CeleryInstrumentor().instrument()


def _requests() -> None:
    from opentelemetry.instrumentation.requests import RequestsInstrumentor

    RequestsInstrumentor().instrument(
        request_hook=lambda span, _request: scrub_urls(span),
        excluded_urls=UNTRACED_URLS,
    )


_INSTRUMENTS = {
    "sqlalchemy": _sqlalchemy,
    "redis": _redis,
    "celery": _celery,
    "requests": _requests,
}


def init_app(app: Any, service: str, settings: Settings, instrument: Iterable[str]) -> bool:
    """Trace ``app``'s requests (span names from URL rules) and what they do; whether on."""
    if not configure(service, "web", settings, instrument):
        return False
    from opentelemetry.instrumentation.flask import FlaskInstrumentor

    FlaskInstrumentor().instrument_app(app, excluded_urls=UNTRACED_URLS)

    @app.before_request
    def _scrub_server_span() -> None:
        # After the instrumentation's own (its request hook is no use: the attributes are
        # set again after it). A path no rule matched would name the span after itself (a
        # 404 for an account number): every such span is named alike.
        from flask import request

        span = trace.get_current_span()
        scrub_urls(span)
        if request.url_rule is None:
            span.update_name(f"{request.method} <unmatched>")

    @app.after_request
    def _trace_response(response: Any) -> Any:
        # W3C's traceresponse: the caller (and gunicorn's access log line, written after the
        # span ended) learns which trace answered it.
        traceparent = current_traceparent()
        if traceparent:
            response.headers["traceresponse"] = traceparent
        return response

    return True


# Attributes that hold a URL or its target, by the semantic conventions old and new.
_URL_ATTRIBUTES = ("http.url", "url.full", "http.target")
_QUERY_ATTRIBUTES = ("url.query",)


def without_query(url: str) -> str:
    """``url`` without its query string and fragment (``/staff?q=王`` is ``/staff``)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def scrub_urls(span: Span) -> None:
    """Overwrite the span's URL attributes with the same URLs without their query strings:
    a query may carry a name or a number (a staff search), a path carries at most an id."""
    if not span.is_recording():
        return
    attributes = dict(getattr(span, "attributes", None) or {})
    for key in _URL_ATTRIBUTES:
        if isinstance(attributes.get(key), str):
            span.set_attribute(key, without_query(attributes[key]))
    for key in _QUERY_ATTRIBUTES:
        if key in attributes:
            span.set_attribute(key, "")


# --- the trace context through the outbox ----------------------------------------------------


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span, to store with what continues it later (an
    outbox row, a case); None when no span is recording."""
    if not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)
    return carrier.get("traceparent")


def _context_of(traceparent: str | None) -> otel_context.Context | None:
    if not traceparent:
        return None
    restored = _W3C.extract({"traceparent": traceparent})
    return restored if trace.get_current_span(restored).get_span_context().is_valid else None


@contextmanager
def restored(
    traceparent: str | None, name: str, attributes: Mapping[str, Any] | None = None
) -> Iterator[dict[str, str]]:
    """A producer span ``name`` continuing the trace ``traceparent`` names (a new trace when
    it names none), current for the block; yields the headers carrying it onward. Tracing
    off in this process, no span: the context is passed on as it came (15 us a row saved)."""
    if not _configured:
        yield {"traceparent": traceparent} if traceparent else {}
        return
    tracer = trace.get_tracer(__name__)
    parent = _context_of(traceparent)
    with tracer.start_as_current_span(
        name, context=parent, kind=SpanKind.PRODUCER, attributes=attributes
    ):
        headers: dict[str, str] = {}
        _W3C.inject(headers)
        yield headers


def annotate(application_id: Any = None) -> None:
    """Name the application the current span works on (what a trace is found by)."""
    span = trace.get_current_span()
    if application_id and span.is_recording():
        span.set_attribute(APPLICATION_ID, str(application_id))


def link_to(traceparent: str | None) -> None:
    """Link the current span to the trace ``traceparent`` names: a reviewer's decision to the
    trace that opened the case, so one application's traces lead from one to the next."""
    span = trace.get_current_span()
    parent = _context_of(traceparent)
    if parent is not None and span.is_recording():
        span.add_link(trace.get_current_span(parent).get_span_context(), {"cb.link": "case"})
