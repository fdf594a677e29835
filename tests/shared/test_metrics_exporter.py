"""The exporter's gauges against real Redis and PostgreSQL: queue depths, unacknowledged
messages, each service's unsent outbox rows and the oldest one's age, and its own page."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from wsgiref.simple_server import make_server

import pytest
import redis
from prometheus_client import CollectorRegistry
from sqlalchemy import text

from shared.celery_app import make_celery
from shared.db import make_engine
from shared.metrics import protected_app
from shared.metrics_exporter import registry_for
from shared.queues import QUEUES
from shared.settings import SERVICES, load_settings


@pytest.fixture
def registry(redis_client: redis.Redis) -> CollectorRegistry:
    redis_client.flushdb()
    return registry_for(load_settings("metrics"))


@pytest.fixture
def org_outbox() -> Iterator[object]:
    engine = make_engine(load_settings("org").database_url)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM outbox"))
    yield engine
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM outbox"))
    engine.dispose()


def test_messages_waiting_are_counted_per_queue(registry, redis_client) -> None:
    celery = make_celery(load_settings("intake"))
    for _ in range(3):
        celery.send_task("review.open_case", kwargs={}, queue="review.subcentre")
    celery.send_task("notify.deliver", kwargs={})
    value = registry.get_sample_value
    assert value("cb_queue_messages", {"queue": "review.subcentre"}) == 3
    assert value("cb_queue_messages", {"queue": "notify"}) == 1
    assert {q: value("cb_queue_messages", {"queue": q}) for q in QUEUES}["org"] == 0
    assert value("cb_exporter_source_up", {"source": "redis"}) == 1


def test_unacknowledged_messages_are_counted_by_their_queue(registry, redis_client) -> None:
    # As kombu keeps them: delivery tag -> [message, exchange, routing key].
    for tag, queue in (("a", "review.branch"), ("b", "review.branch"), ("c", "intake")):
        redis_client.hset("unacked", tag, json.dumps([{"body": ""}, "", queue]))
    redis_client.hset("unacked", "junk", b"not json")
    value = registry.get_sample_value
    assert value("cb_queue_unacked", {"queue": "review.branch"}) == 2
    assert value("cb_queue_unacked", {"queue": "intake"}) == 1
    assert value("cb_queue_unacked", {"queue": "org"}) == 0


def test_unsent_outbox_rows_and_the_oldest_age_per_service(registry, org_outbox) -> None:
    value = registry.get_sample_value
    assert value("cb_outbox_unsent", {"service": "org"}) == 0
    assert value("cb_outbox_oldest_unsent_age_seconds", {"service": "org"}) == 0
    with org_outbox.begin() as conn:
        for age, sent in ((90, False), (30, False), (600, True)):
            conn.execute(
                text(
                    "INSERT INTO outbox (id, task_name, queue, payload, created_at, sent_at)"
                    " VALUES (gen_random_uuid(), 'notify.deliver', 'notify', '{}',"
                    " now() - make_interval(secs => :age), CASE WHEN :sent THEN now() END)"
                ),
                {"age": age, "sent": sent},
            )
    assert value("cb_outbox_unsent", {"service": "org"}) == 2
    assert 90 <= value("cb_outbox_oldest_unsent_age_seconds", {"service": "org"}) < 120
    for service in SERVICES:
        assert value("cb_exporter_source_up", {"source": service}) == 1, service


def test_a_database_down_leaves_the_other_sources_standing(redis_client) -> None:
    down = "postgresql+psycopg://postgres@127.0.0.1:1/nothing"
    import os

    os.environ["CB_NOTIFY_DATABASE_URL"], saved = down, os.environ["CB_NOTIFY_DATABASE_URL"]
    try:
        registry = registry_for(load_settings("metrics"))
    finally:
        os.environ["CB_NOTIFY_DATABASE_URL"] = saved
    assert registry.get_sample_value("cb_exporter_source_up", {"source": "notify"}) == 0
    assert registry.get_sample_value("cb_exporter_source_up", {"source": "org"}) == 1
    assert registry.get_sample_value("cb_outbox_unsent", {"service": "org"}) is not None


@pytest.mark.parametrize(
    ("address", "authorization", "status"),
    [
        ("127.0.0.1", "", 200),
        ("10.0.0.9", "", 404),
        ("10.0.0.9", "Bearer wrong", 404),
        ("10.0.0.9", "Bearer scrape-secret", 200),
    ],
)
def test_the_exporter_answers_loopback_and_the_token_only(
    address: str, authorization: str, status: int
) -> None:
    app = protected_app(CollectorRegistry(), "scrape-secret")
    answered: list[str] = []
    environ = {"REMOTE_ADDR": address, "HTTP_AUTHORIZATION": authorization}
    environ |= {"REQUEST_METHOD": "GET", "PATH_INFO": "/metrics", "QUERY_STRING": ""}
    environ |= {"wsgi.url_scheme": "http", "SERVER_NAME": "x", "SERVER_PORT": "1"}
    app(environ, lambda s, _h: answered.append(s))
    assert answered[0].startswith(str(status))


def test_the_exporter_serves_its_page_over_http(registry) -> None:
    server = make_server("127.0.0.1", 0, protected_app(registry, ""))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as answer:
            assert b'cb_queue_messages{queue="review.province"} 0.0' in answer.read()
    except urllib.error.URLError as exc:  # pragma: no cover - a failure to say clearly
        pytest.fail(str(exc))
    finally:
        server.shutdown()
