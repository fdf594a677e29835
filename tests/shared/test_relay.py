"""The outbox relay with a real Celery worker consuming from real Redis."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator

import pytest
import redis
from sqlalchemy import func, select, text

from services.org.context import worker_db
from services.org.models import Outbox
from shared import outbox
from shared.db import utcnow
from tests.consumer import EFFECTS, RECEIVED, consumer_app
from tests.factories import World
from tests.helpers import PrivateRedis, Relay, running_worker, wait_for

pytestmark = pytest.mark.integration


def add_messages(n: int) -> list[str]:
    ids = []
    with worker_db().transaction() as session:
        for i in range(n):
            ids.append(
                str(
                    outbox.enqueue(
                        session,
                        Outbox,
                        "notify.deliver",
                        {
                            "event_type": "org.acceptance_point_operating",
                            "occurred_at": utcnow().isoformat(),
                            "unit_code": f"AP{i:06d}",
                        },
                    )
                )
            )
    return ids


def pending() -> int:
    with worker_db().transaction() as session:
        return int(
            session.scalar(select(func.count()).select_from(Outbox).where(Outbox.sent_at.is_(None)))
            or 0
        )


def max_attempts() -> int:
    with worker_db().transaction() as session:
        return int(session.scalar(select(func.max(Outbox.attempts))) or 0)


@pytest.fixture(autouse=True)
def empty_outbox(redis_client: redis.Redis) -> Iterator[None]:
    with worker_db().transaction() as session:
        session.execute(text("TRUNCATE outbox"))
    redis_client.flushdb()
    yield


@pytest.fixture
def worker() -> Iterator[None]:
    app = consumer_app()
    with running_worker(app, ["notify"]):
        yield


def delivered(client: redis.Redis) -> list[str]:
    return [json.loads(m)["message_id"] for m in client.lrange(RECEIVED, 0, -1)]


def test_committed_rows_reach_the_worker_once(worker, redis_client) -> None:
    relay = Relay("org").start()
    try:
        ids = add_messages(50)
        wait_for(lambda: len(delivered(redis_client)) >= 50)
        # The relay marks rows sent when its batch commits, which may be just after the
        # worker has them.
        wait_for(lambda: pending() == 0)
    finally:
        relay.close()
    assert sorted(delivered(redis_client)) == sorted(ids)


def test_relay_stopped_and_restarted_with_rows_pending(worker, redis_client) -> None:
    relay = Relay("org").start()
    try:
        first = add_messages(100)
        wait_for(lambda: pending() == 0)
        assert relay.stop() == 0  # SIGTERM: the batch in progress is finished, then it exits
        second = add_messages(100)
        wait_for(lambda: len(delivered(redis_client)) >= 100)
        assert pending() == 100  # nobody publishes while the relay is down
        relay.start()
        wait_for(lambda: len(delivered(redis_client)) >= 200)
        wait_for(lambda: pending() == 0)
    finally:
        relay.close()
    got = delivered(redis_client)
    assert len(got) == 200 and sorted(got) == sorted(first + second)  # none lost, none twice


@pytest.mark.slow
def test_relay_killed_mid_batch_loses_nothing(worker, redis_client) -> None:
    ids = add_messages(3000)
    relay = Relay("org", CB_RELAY_BATCH_SIZE="500").start()
    try:
        wait_for(lambda: redis_client.llen(RECEIVED) > 0, interval=0.001)
        relay.stop(signal.SIGKILL)
        relay.start()
        wait_for(lambda: redis_client.scard(EFFECTS) >= 3000, timeout=180)
        wait_for(lambda: pending() == 0)
    finally:
        relay.close()
    # At least once on the wire; exactly once in effect for a receiver keyed by message id.
    assert set(delivered(redis_client)) == set(ids)
    assert {m.decode() for m in redis_client.smembers(EFFECTS)} == set(ids)


@pytest.mark.slow
def test_redis_down_rows_wait_and_go_once_it_is_back() -> None:
    server = PrivateRedis().start()
    client = redis.Redis.from_url(server.url)
    relay = Relay("org", CB_REDIS_URL=server.url).start()
    try:
        server.stop()
        ids = add_messages(20)
        wait_for(lambda: max_attempts() > 0, timeout=20)  # it tried, failed, kept the rows
        assert pending() == 20
        server.start()
        wait_for(lambda: pending() == 0, timeout=30)
        bodies = client.lrange("notify", 0, -1)
        task_ids = {json.loads(b)["headers"]["id"] for b in bodies}
        assert task_ids == set(ids)
    finally:
        relay.close()
        server.stop()


@pytest.mark.usefixtures("clean_org")  # before the worker starts: it empties Redis too
def test_org_event_through_relay_and_worker(org_app, worker, redis_client, var_dir) -> None:
    from shared import sealing

    relay = Relay("org").start()
    try:
        with org_app.app_context():
            world = World(org_app.test_client())
            code, _admin_name, activation = world.allocated_point("S010")
        wait_for(lambda: redis_client.llen(RECEIVED) >= 1)
    finally:
        relay.close()
    message = json.loads(redis_client.lrange(RECEIVED, 0, -1)[0])
    assert message["event_type"] == "org.activation_code_allocated"
    assert message["unit_code"] == code and activation not in json.dumps(message)
    private = (var_dir / "keys" / "notify_seal_private.pem").read_bytes()
    assert sealing.unseal(private, message["sealed"]["activation_code"]) == activation


def test_redis_restarted_empty_gets_the_recently_sent_messages_again() -> None:
    server = PrivateRedis().start(appendonly=False)
    client = redis.Redis.from_url(server.url)
    relay = Relay("org", CB_REDIS_URL=server.url).start()
    try:
        ids = add_messages(20)
        wait_for(lambda: pending() == 0 and client.llen("notify") == 20, timeout=30)
        server.stop()
        server.start(appendonly=False)  # empty: the 20 queued messages are gone
        wait_for(lambda: client.llen("notify") == 20, timeout=30)
        task_ids = {json.loads(b)["headers"]["id"] for b in client.lrange("notify", 0, -1)}
        assert task_ids == set(ids)
        assert pending() == 0
    finally:
        relay.close()
        server.stop()
