"""The outbox relay: publishes committed outbox rows to their queues and marks them sent.

Run one (or more: rows are claimed with ``FOR UPDATE SKIP LOCKED``) per service database:

    python -m shared.relay --service org

It wakes on the ``outbox`` NOTIFY sent at commit and otherwise polls every
``CB_RELAY_IDLE_WAIT`` seconds. A batch of up to ``CB_RELAY_BATCH_SIZE`` rows goes to Redis in
one round trip: the messages, built as ``send_task`` would write them
(``shared.task_messages``), LPUSHed (one LPUSH per queue) in one MULTI/EXEC with the broker
marker's EXISTS (below).
MULTI makes the batch all or nothing on Redis's side: a connection cut before EXEC, or a
command Redis refuses as it queues it (out of memory), leaves none of it on a queue, and then
none of it is marked sent. If Redis is unreachable the rows simply stay pending (their
``attempts`` and ``last_error`` say so) and the relay retries with a growing pause; nothing
committed is lost. A batch Redis took but whose rows were not marked sent (the relay died,
PostgreSQL went away before the commit) is published again: delivery is at least once, and
receivers drop duplicates by ``message_id``.

Each row is published inside a span continuing the trace of the request or task that wrote it
(its ``traceparent``); the context goes into the message's headers, where the receiving
worker's Celery instrumentation takes it up. The batch's round trip is a span of its own,
linked to each row's (one Redis call cannot sit in every row's trace), with the Redis
instrumentation's MULTI inside it. The relay's SQL is not traced, nor its idle look at the
marker: its poll every second would be a trace of its own each time.

A Redis that comes back empty (restarted without persistence, or its data lost) has lost
every message still queued or being worked on. The relay keeps a marker in Redis
(``cb:relay:broker:<service>``); when it finds the marker gone, it marks every row it sent in
the last ``CB_RELAY_REPLAY_SECONDS`` (an hour) unsent again, in the batch's transaction, and
publishes them anew: receivers drop what they had already done, and what was lost is done.
The marker is set again only once that is committed (PostgreSQL may be down too); two relays
of one service may then both replay, which costs duplicates and loses nothing. Found by
bench/chaos.py (Redis restarted empty: a learner's notice, queued for notify, was never sent).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import psycopg
import redis
from celery import Celery
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import Link, SpanContext, SpanKind
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import Engine, Interval, any_, bindparam, column, func, select, table, update
from sqlalchemy.engine import make_url

from shared import tracing
from shared.celery_app import make_celery
from shared.db import make_engine
from shared.logs import configure_logging
from shared.outbox import NOTIFY_CHANNEL
from shared.settings import SERVICES, load_settings
from shared.task_messages import TaskMessages

log = logging.getLogger("relay")

outbox = table(
    "outbox",
    column("id"),
    column("task_name"),
    column("queue"),
    column("payload"),
    column("created_at"),
    column("available_at"),
    column("sent_at"),
    column("attempts"),
    column("last_error"),
    column("traceparent"),
)
# Built once: SQLAlchemy then finds each compiled in its cache. A batch's ids travel as one
# array (``= ANY``), not as a bound parameter each.
MARK_SENT = update(outbox).where(outbox.c.id == any_(bindparam("ids"))).values(sent_at=func.now())
RECORD_FAILURE = (
    update(outbox)
    .where(outbox.c.id == any_(bindparam("ids")))
    .values(attempts=outbox.c.attempts + 1, last_error=bindparam("error"))
)
REPLAY = (
    update(outbox)
    .where(outbox.c.sent_at > func.now() - bindparam("window", type_=Interval()))
    .values(sent_at=None)
)


@dataclass
class Sent:
    """What one round trip to Redis did with a batch."""

    ids: list[Any] = field(default_factory=list)  # rows Redis took
    failed: list[tuple[list[Any], Exception]] = field(default_factory=list)  # rows it did not
    marker_gone: bool = False  # the broker was found emptied


class Relay:
    def __init__(
        self,
        engine: Engine,
        celery_app: Celery,
        batch_size: int = 200,
        idle_wait: float = 1.0,
        max_backoff: float = 10.0,
        replay_seconds: float = 3600.0,
    ) -> None:
        self.engine, self.celery = engine, celery_app
        self.batch_size, self.idle_wait, self.max_backoff = batch_size, idle_wait, max_backoff
        self.replay_window = timedelta(seconds=replay_seconds)
        self.stopping = threading.Event()
        self.failures = 0
        self.replayed = 0
        # One quick retry, for a pooled connection Redis closed while the relay slept;
        # beyond that the relay's own backoff waits (redis-py's default would pause up to
        # several seconds inside a batch, holding its rows locked).
        self.broker = redis.Redis.from_url(
            celery_app.conf.broker_url,
            socket_timeout=5,
            socket_connect_timeout=5,
            retry=Retry(NoBackoff(), 1),
        )
        self.marker = f"cb:relay:broker:{celery_app.main}"
        self.messages = TaskMessages(celery_app)
        self.claim = (
            select(
                outbox.c.id,
                outbox.c.task_name,
                outbox.c.queue,
                outbox.c.payload,
                outbox.c.traceparent,
            )
            .where(outbox.c.sent_at.is_(None), outbox.c.available_at <= func.now())
            # The pending index's order (available_at is created_at: both now() at insert),
            # so a batch reads its rows off the index: by created_at, PostgreSQL sorted the
            # whole backlog for each batch (71 ms over 20,000 pending rows, on disk; 0.3 ms).
            .order_by(outbox.c.available_at)
            .limit(batch_size)
            .with_for_update(skip_locked=True)
        )

    def relay_once(self) -> int:
        """Publish one batch of pending rows; return how many were published. A broker
        found emptied has the rows sent in the replay window marked unsent in the same
        transaction (``replayed``: how many), for the next batches to publish again."""
        with self.engine.begin() as conn:
            rows = conn.execute(self.claim).all()
            sent = self._send(rows) if rows else self._look_at_marker()
            for ids, exc in sent.failed:
                self._record_failure(conn, ids, exc)
            self.replayed = self._replay(conn) if sent.marker_gone else 0
            if sent.ids:
                conn.execute(MARK_SENT, {"ids": sent.ids})
        if sent.marker_gone:
            self.broker.set(self.marker, "1")
        if sent.ids:
            self.failures = 0
            log.info("published outbox messages", extra={"count": len(sent.ids)})
        return len(sent.ids)

    def _send(self, rows: Sequence[Any]) -> Sent:
        """The rows' messages and the marker's EXISTS, in one MULTI/EXEC."""
        sent = Sent()
        links: list[SpanContext] = []  # each row's publish span (tracing on)
        by_queue = self._messages(rows, sent, links)
        pipe = self.broker.pipeline(transaction=True)
        pipe.exists(self.marker)
        for key, (_, messages) in by_queue.items():
            pipe.lpush(key, *messages)
        try:
            with self._batch_span(links):
                marker, *replies = pipe.execute(raise_on_error=False)
        except Exception as exc:  # Redis away or the connection cut: none of it counts
            sent.failed.append(([i for ids, _ in by_queue.values() for i in ids], exc))
            return sent
        sent.marker_gone = marker == 0
        for (ids, _), reply in zip(by_queue.values(), replies, strict=True):
            if isinstance(reply, Exception):  # refused at EXEC (a key of another type)
                sent.failed.append((ids, reply))
            else:
                sent.ids.extend(ids)
        return sent

    def _messages(
        self, rows: Sequence[Any], sent: Sent, links: list[SpanContext]
    ) -> dict[str, tuple[list[Any], list[bytes]]]:
        """Each queue's rows and their messages, in the rows' order: one LPUSH of them all
        leaves them as one LPUSH each would, and the queue's consumers take the first first."""
        by_queue: dict[str, tuple[list[Any], list[bytes]]] = {}
        for row in rows:
            try:
                key, message = self._message(row, links)
            except Exception as exc:  # this row's message cannot be built: the rest go
                sent.failed.append(([row.id], exc))
                continue
            ids, messages = by_queue.setdefault(key, ([], []))
            ids.append(row.id)
            messages.append(message)
        return by_queue

    def _message(self, row: Any, links: list[SpanContext]) -> tuple[str, bytes]:
        # Our own producer span, not the Celery instrumentation's: that one never ends a span
        # for a task sent by name from a process that does not define it (as here).
        task_id = str(row.id)
        attributes = {
            "messaging.system": "celery",
            "messaging.destination.name": row.queue,
            "messaging.message.id": task_id,
            "celery.task_name": row.task_name,
        }
        with tracing.restored(row.traceparent, f"publish {row.task_name}", attributes) as headers:
            span = trace.get_current_span()
            if span.is_recording():
                tracing.annotate(row.payload.get("application_id"))
                links.append(span.get_span_context())
            return self.messages.build(task_id, row.task_name, row.payload, row.queue, headers)

    @contextlib.contextmanager
    def _batch_span(self, links: list[SpanContext]) -> Iterator[None]:
        if not links:  # tracing off
            yield
            return
        with trace.get_tracer(__name__).start_as_current_span(
            "send outbox batch",
            kind=SpanKind.CLIENT,
            links=[Link(context) for context in links],
            attributes={"messaging.system": "celery", "messaging.batch.message_count": len(links)},
        ):
            yield

    def _look_at_marker(self) -> Sent:
        """Nothing to publish: whether the marker is there, in a round trip of its own."""
        try:
            with suppress_instrumentation():
                return Sent(marker_gone=not self.broker.exists(self.marker))
        except redis.RedisError:  # Redis is away: a batch will fail and say so
            return Sent()

    def _replay(self, conn: Any) -> int:
        count = int(conn.execute(REPLAY, {"window": self.replay_window}).rowcount)
        if count:
            log.warning(
                "broker found empty: publishing recent messages again", extra={"count": count}
            )
        return count

    def _record_failure(self, conn: Any, ids: list[Any], exc: Exception) -> None:
        self.failures += 1
        log.warning("publish failed; will retry", extra={"error": type(exc).__name__})
        conn.execute(RECORD_FAILURE, {"ids": ids, "error": str(exc)[:500]})

    def backoff(self) -> float:
        return float(min(self.max_backoff, 0.2 * 2 ** min(self.failures, 10)))

    def run(self) -> None:
        """Relay until ``stopping`` is set; a batch in progress is always finished."""
        listener = self._listen()
        while not self.stopping.is_set():
            try:
                count = self.relay_once()
            except Exception:
                log.exception("relay batch failed")
                self.failures += 1
                count = 0
            if self.failures:
                self.stopping.wait(self.backoff())
            elif count < self.batch_size and not self.replayed:
                listener = self._wait(listener)
        if listener is not None:
            listener.close()

    def _dsn(self) -> str:
        url = make_url(self.engine.url).set(drivername="postgresql")
        return url.render_as_string(hide_password=False)

    def _listen(self) -> psycopg.Connection[Any] | None:
        try:
            conn = psycopg.connect(self._dsn(), autocommit=True)
            conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
            return conn
        except psycopg.Error:
            log.warning("cannot LISTEN for outbox rows; polling instead")
            return None

    def _wait(self, listener: psycopg.Connection[Any] | None) -> psycopg.Connection[Any] | None:
        if listener is None:
            self.stopping.wait(self.idle_wait)
            return self._listen()
        try:
            for _ in listener.notifies(timeout=self.idle_wait, stop_after=1):
                pass
            return listener
        except psycopg.Error:
            listener.close()
            return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--service", required=True, choices=SERVICES)
    args = parser.parse_args(argv)
    settings = load_settings(args.service)
    configure_logging(f"{args.service}-relay", settings.log_level)
    tracing.configure(args.service, "relay", settings, instrument=["redis"])
    relay = Relay(
        make_engine(settings.database_url, pool_size=2),
        make_celery(settings),
        batch_size=settings.relay_batch_size,
        idle_wait=settings.relay_idle_wait,
        replay_seconds=settings.relay_replay_seconds,
    )
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: relay.stopping.set())
    log.info("relay started")
    relay.run()
    log.info("relay stopped")


if __name__ == "__main__":
    time.tzset()
    main()
