"""Tracing's parts (shared/tracing.py): the trace context kept by an outbox row and carried on
by the relay, the ids in the logs, URLs without their query strings, and tracing off when no
endpoint is set. The whole system traced is tests/integration/test_tracing.py."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import redis
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import select, text

from services.org.context import worker_db
from services.org.models import Outbox
from shared import outbox, tracing
from shared.celery_app import make_celery
from shared.db import make_engine, utcnow
from shared.logs import JsonFormatter
from shared.relay import Relay
from shared.settings import load_settings
from tests.helpers import Relay as RelayProcess
from tests.helpers import wait_for
from tests.otlp import receiving

EVENT = {"event_type": "org.acceptance_point_operating", "unit_code": "AP000001"}


@pytest.fixture
def tracer() -> trace.Tracer:
    """A recording tracer of the test's own (the process's global provider is left alone:
    tracing is off in the tests' process)."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    return provider.get_tracer("test")


@pytest.fixture
def empty_outbox(redis_client: redis.Redis) -> Iterator[None]:
    with worker_db().transaction() as session:
        session.execute(text("TRUNCATE outbox"))
    redis_client.flushdb()
    yield
    with worker_db().transaction() as session:
        session.execute(text("TRUNCATE outbox"))


def ids_of(span: trace.Span) -> list[str]:
    context = span.get_span_context()
    return [f"{context.trace_id:032x}", f"{context.span_id:016x}"]


def ids_in(traceparent: str | None) -> list[str]:
    """A W3C traceparent's trace and span ids (version-traceid-spanid-flags)."""
    return (traceparent or "").split("-")[1:3]


def enqueue() -> str:
    with worker_db().transaction() as session:
        message_id = outbox.enqueue(
            session, Outbox, "notify.deliver", {**EVENT, "occurred_at": utcnow().isoformat()}
        )
    return str(message_id)


def stored_traceparent(message_id: str) -> str | None:
    with worker_db().transaction() as session:
        return session.scalar(select(Outbox.traceparent).where(Outbox.id == message_id))


@pytest.mark.usefixtures("empty_outbox")
def test_an_outbox_row_keeps_the_trace_context_of_the_span_that_wrote_it(tracer) -> None:
    with tracer.start_as_current_span("a request") as span:
        inside = enqueue()
    outside = enqueue()
    assert ids_in(stored_traceparent(inside)) == ids_of(span)
    assert stored_traceparent(outside) is None


@pytest.mark.usefixtures("empty_outbox")
def test_the_relay_carries_the_rows_trace_context_into_the_messages_headers(
    tracer, redis_client
) -> None:
    with tracer.start_as_current_span("a request") as span:
        message_id = enqueue()
    untraced = enqueue()
    settings = load_settings("org")
    relay = Relay(make_engine(settings.database_url), make_celery(settings))
    assert relay.relay_once() == 2
    headers = {
        json.loads(raw)["headers"]["id"]: json.loads(raw)["headers"]
        for raw in redis_client.lrange("notify", 0, -1)
    }
    # Tracing is off in this process: the relay passes the row's context on unchanged.
    assert headers[message_id]["traceparent"] == stored_traceparent(message_id)
    assert ids_in(headers[message_id]["traceparent"]) == ids_of(span)
    assert "traceparent" not in headers[untraced]


def test_a_log_line_carries_the_ids_of_the_current_span(tracer) -> None:
    formatter = JsonFormatter("org")
    record = logging.makeLogRecord({"msg": "case opened", "levelname": "INFO"})
    with tracer.start_as_current_span("a task") as span:
        inside = json.loads(formatter.format(record))
    outside = json.loads(formatter.format(record))
    context = span.get_span_context()
    assert (inside["trace_id"], inside["span_id"]) == (
        f"{context.trace_id:032x}",
        f"{context.span_id:016x}",
    )
    assert "trace_id" not in outside and "span_id" not in outside


def test_a_spans_urls_lose_their_query_strings(tracer) -> None:
    attributes = {
        "http.url": "http://127.0.0.1:8001/api/v1/staff?q=%E7%8E%8B%E4%BA%94",
        "http.target": "/api/v1/staff?q=王五",
        "url.query": "q=王五",
    }
    with tracer.start_as_current_span("GET /api/v1/staff", attributes=attributes) as span:
        tracing.scrub_urls(span)
    assert span.attributes == {  # type: ignore[attr-defined]
        "http.url": "http://127.0.0.1:8001/api/v1/staff",
        "http.target": "/api/v1/staff",
        "url.query": "",
    }


@pytest.mark.parametrize(
    ("endpoint", "url"),
    [
        ("http://collector:4318", "http://collector:4318/v1/traces"),
        ("http://collector:4318/", "http://collector:4318/v1/traces"),
        ("https://otlp.example/v1/traces", "https://otlp.example/v1/traces"),
    ],
    ids=["base", "base-with-slash", "full"],
)
def test_the_endpoint_setting_is_the_collectors_base_url(endpoint: str, url: str) -> None:
    assert tracing.traces_url(endpoint) == url


def test_without_an_endpoint_a_process_configures_nothing() -> None:
    assert tracing.configure("org", "web", load_settings("org", {"otlp_endpoint": ""})) is False
    assert not isinstance(trace.get_tracer_provider(), TracerProvider)


@pytest.mark.integration
@pytest.mark.usefixtures("empty_outbox")
def test_without_an_endpoint_a_relay_exports_nothing_and_still_publishes(redis_client) -> None:
    # The standard variable names a collector, ours does not: tracing stays off.
    with receiving() as collector:
        relay = RelayProcess(
            "org",
            CB_OTLP_ENDPOINT="",
            OTEL_EXPORTER_OTLP_ENDPOINT=collector.endpoint,
            OTEL_BSP_SCHEDULE_DELAY="100",
        ).start()
        try:
            message_id = enqueue()
            wait_for(lambda: sent(message_id), timeout=30)
        finally:
            assert relay.stop() == 0  # a clean exit: a provider would have flushed its spans
            relay.close()
        assert redis_client.llen("notify") == 1
        assert collector.spans == []


def sent(message_id: str) -> bool:
    with worker_db().transaction() as session:
        return session.scalar(select(Outbox.sent_at).where(Outbox.id == message_id)) is not None
