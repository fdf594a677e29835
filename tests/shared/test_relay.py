"""The outbox relay with a real Celery worker consuming from real Redis; a batch's round trip
to Redis, and what a cut in it or a lost commit leaves, on a redis-server of the test's own."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import redis
from sqlalchemy import func, select, text, update

from services.org.context import worker_db
from services.org.models import Outbox
from shared import outbox
from shared.celery_app import make_celery
from shared.db import make_engine, utcnow
from shared.relay import Relay as RelayLoop
from shared.settings import load_settings
from tests.consumer import EFFECTS, RECEIVED, consumer_app
from tests.factories import World
from tests.helpers import PrivateRedis, Relay, running_worker, wait_for

pytestmark = pytest.mark.integration


def add_messages(n: int, queue: str | None = None) -> list[str]:
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
                        queue=queue,
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


# --- one batch, one round trip (a relay in this process, on a redis-server of the test's own) ---


class Wire(redis.connection.Connection):
    """A Redis connection counting what it writes: a round trip is one write (a pipeline is
    written whole, then its replies read). While ``cut``, a MULTI is written half-way and the
    connection dropped, as a network cut in the middle of a batch would; ``after_write``
    runs once a whole MULTI is written."""

    writes = 0
    cut = False
    after_write: Any = None

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        data = b"".join(command) if isinstance(command, list) else command
        batch = data.startswith(b"*1\r\n$5\r\nMULTI")
        if batch and Wire.cut:
            if not self._sock:
                self.connect()
            self._sock.sendall(data[: len(data) // 2])
            self.disconnect()
            raise redis.ConnectionError("cut mid-batch")
        Wire.writes += 1
        super().send_packed_command(command, check_health)
        if batch and Wire.after_write is not None:
            Wire.after_write()


@pytest.fixture
def private() -> Iterator[redis.Redis]:
    server = PrivateRedis().start(appendonly=False)
    Wire.writes, Wire.cut, Wire.after_write = 0, False, None
    yield redis.Redis.from_url(server.url)
    server.stop()


def in_process_relay(client: redis.Redis) -> RelayLoop:
    kwargs = client.connection_pool.connection_kwargs
    url = f"redis://127.0.0.1:{kwargs['port']}/0"
    settings = load_settings("org", {"redis_url": url})
    relay = RelayLoop(make_engine(settings.database_url, pool_size=1), make_celery(settings))
    relay.broker.connection_pool.connection_class = Wire
    assert relay.relay_once() == 0  # connected, the marker set: what follows is one batch
    return relay


def commands(client: redis.Redis) -> dict[str, int]:
    stats = client.info("commandstats")
    return {
        name.removeprefix("cmdstat_"): int(stat["calls"])
        for name, stat in stats.items()
        if name not in ("cmdstat_config|resetstat", "cmdstat_info")
    }


def queued_ids(client: redis.Redis, queue: str = "notify") -> list[str]:
    return [json.loads(raw)["headers"]["id"] for raw in client.lrange(queue, 0, -1)]


def attempts() -> list[int]:
    with worker_db().transaction() as session:
        return sorted(session.scalars(select(Outbox.attempts)))


def test_a_batch_is_one_round_trip_with_the_marker_in_it(private) -> None:
    relay = in_process_relay(private)
    ids, elsewhere = add_messages(30), add_messages(20, queue="org")
    Wire.writes = 0
    private.config_resetstat()
    assert relay.relay_once() == 50
    assert Wire.writes == 1
    # One LPUSH a queue, with all of its messages.
    assert commands(private) == {"multi": 1, "exists": 1, "lpush": 2, "exec": 1}
    assert sorted(queued_ids(private)) == sorted(ids)
    assert sorted(queued_ids(private, "org")) == sorted(elsewhere) and pending() == 0


def test_a_cut_mid_batch_leaves_nothing_queued_nor_sent_and_all_go_after(private) -> None:
    relay = in_process_relay(private)
    ids = add_messages(30)
    Wire.cut = True
    assert relay.relay_once() == 0
    # MULTI without its EXEC: Redis queued none of it, and no row is marked sent.
    assert private.llen("notify") == 0 and pending() == 30
    assert attempts() == [1] * 30 and relay.failures == 1
    Wire.cut = False
    assert relay.relay_once() == 30
    assert sorted(queued_ids(private)) == sorted(ids)  # each once
    assert pending() == 0 and relay.failures == 0


def test_a_batch_redis_took_but_postgresql_did_not_mark_goes_again(private) -> None:
    relay = in_process_relay(private)
    ids = add_messages(20)
    Wire.after_write = cut_the_relays_transaction
    with pytest.raises(Exception):  # noqa: B017 - whichever error the lost session raises
        relay.relay_once()
    Wire.after_write = None
    assert sorted(queued_ids(private)) == sorted(ids) and pending() == 20
    assert relay.relay_once() == 20
    assert sorted(queued_ids(private)) == sorted(ids + ids)  # at least once: twice, none lost
    assert pending() == 0


def cut_the_relays_transaction() -> None:
    """End the session holding the batch's rows (the only one idle in a transaction)."""
    url = load_settings("org").database_url.replace("+psycopg", "")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname ="
            " current_database() AND pid <> pg_backend_pid() AND state = 'idle in transaction'"
        )


def test_a_marker_gone_replays_the_window_in_the_batchs_own_transaction(private) -> None:
    relay = in_process_relay(private)
    earlier = add_messages(12)
    assert relay.relay_once() == 12
    with worker_db().transaction() as session:  # four of them sent before the window
        session.execute(
            update(Outbox)
            .where(Outbox.id.in_(earlier[:4]))
            .values(sent_at=func.now() - text("interval '2 hours'"))
        )
    private.flushdb()  # Redis lost its data: the marker and the queued messages
    later = add_messages(5)
    Wire.writes = 0
    assert relay.relay_once() == 5  # the batch, and in its round trip the marker found gone
    assert Wire.writes == 2 and relay.replayed == 8  # the second write: the marker set again
    assert private.exists(relay.marker) and pending() == 8
    assert relay.relay_once() == 8 and relay.replayed == 0
    assert sorted(queued_ids(private)) == sorted(later + earlier[4:])
