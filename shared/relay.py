"""The outbox relay: publishes committed outbox rows to their queues and marks them sent.

Run one (or more: rows are claimed with ``FOR UPDATE SKIP LOCKED``) per service database:

    python -m shared.relay --service org

It wakes on the ``outbox`` NOTIFY sent at commit and otherwise polls every
``CB_RELAY_IDLE_WAIT`` seconds. If Redis is unreachable the rows simply stay pending and the
relay retries with a growing pause; nothing committed is lost. A row published but not yet
marked sent when the relay dies is published again on restart: delivery is at least once, and
receivers drop duplicates by ``message_id``.

Each row is published inside a span continuing the trace of the request or task that wrote it
(its ``traceparent``); the context goes into the message's headers, where the receiving
worker's Celery instrumentation takes it up, and the message's Redis commands show inside
it. The relay's SQL is not traced: its poll every second would be a trace of its own each time.

A Redis that comes back empty (restarted without persistence, or its data lost) has lost
every message still queued or being worked on. The relay keeps a marker in Redis
(``cb:relay:broker:<service>``); when it finds the marker gone, it publishes again every row
it sent in the last ``CB_RELAY_REPLAY_SECONDS`` (an hour): receivers drop what they had
already done, and what was lost is done. Found by bench/chaos.py (Redis restarted empty:
a learner's notice, queued for notify, was never sent).
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from typing import Any

import psycopg
import redis
from celery import Celery
from sqlalchemy import Engine, column, func, select, table, text, update
from sqlalchemy.engine import make_url

from shared import tracing
from shared.celery_app import make_celery
from shared.db import make_engine
from shared.logs import configure_logging
from shared.outbox import NOTIFY_CHANNEL
from shared.settings import SERVICES, load_settings

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
        self.replay_seconds = replay_seconds
        self.stopping = threading.Event()
        self.failures = 0
        self.broker = redis.Redis.from_url(
            celery_app.conf.broker_url, socket_timeout=5, socket_connect_timeout=5
        )
        self.marker = f"cb:relay:broker:{celery_app.main}"

    def replay_if_broker_emptied(self) -> int:
        """If Redis lost its data (the marker is gone), mark the rows sent in the replay
        window unsent again, so that they are published anew; how many. The marker is set
        only once that is committed (PostgreSQL may be down too); two relays of one service
        may then both replay, which costs duplicates and loses nothing."""
        try:
            if self.broker.exists(self.marker):
                return 0
        except redis.RedisError:  # Redis is away: publishing will fail and say so
            return 0
        window = text(f"interval '{self.replay_seconds:.0f} seconds'")
        with self.engine.begin() as conn:
            count = conn.execute(
                update(outbox).where(outbox.c.sent_at > func.now() - window).values(sent_at=None)
            ).rowcount
        self.broker.set(self.marker, "1")
        if count:
            log.warning(
                "broker found empty: publishing recent messages again", extra={"count": count}
            )
        return int(count)

    def relay_once(self) -> int:
        """Publish one batch of pending rows; return how many were published."""
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(
                    outbox.c.id,
                    outbox.c.task_name,
                    outbox.c.queue,
                    outbox.c.payload,
                    outbox.c.traceparent,
                )
                .where(outbox.c.sent_at.is_(None), outbox.c.available_at <= func.now())
                .order_by(outbox.c.created_at)
                .limit(self.batch_size)
                .with_for_update(skip_locked=True)
            ).all()
            published = []
            with self.celery.producer_or_acquire() as producer:
                for row in rows:
                    try:
                        self._publish(row, producer)
                    except Exception as exc:  # the broker is down or refused: keep the row
                        self._record_failure(conn, row.id, exc)
                        break
                    published.append(row.id)
            if published:
                conn.execute(
                    update(outbox).where(outbox.c.id.in_(published)).values(sent_at=func.now())
                )
        if published:
            self.failures = 0
            log.info("published outbox messages", extra={"count": len(published)})
        return len(published)

    def _publish(self, row: Any, producer: Any) -> None:
        # Our own producer span, not the Celery instrumentation's: that one never ends a span
        # for a task sent by name from a process that does not define it (as here).
        attributes = {
            "messaging.system": "celery",
            "messaging.destination.name": row.queue,
            "messaging.message.id": str(row.id),
            "celery.task_name": row.task_name,
        }
        with tracing.restored(row.traceparent, f"publish {row.task_name}", attributes) as headers:
            tracing.annotate(row.payload.get("application_id"))
            self.celery.send_task(
                row.task_name,
                kwargs=row.payload,
                queue=row.queue,
                task_id=str(row.id),
                producer=producer,
                retry=False,
                headers=headers,
            )

    def _record_failure(self, conn: Any, row_id: Any, exc: Exception) -> None:
        self.failures += 1
        log.warning("publish failed; will retry", extra={"error": type(exc).__name__})
        conn.execute(
            update(outbox)
            .where(outbox.c.id == row_id)
            .values(attempts=outbox.c.attempts + 1, last_error=str(exc)[:500])
        )

    def backoff(self) -> float:
        return float(min(self.max_backoff, 0.2 * 2 ** min(self.failures, 10)))

    def run(self) -> None:
        """Relay until ``stopping`` is set; a batch in progress is always finished."""
        listener = self._listen()
        while not self.stopping.is_set():
            try:
                self.replay_if_broker_emptied()
                count = self.relay_once()
            except Exception:
                log.exception("relay batch failed")
                self.failures += 1
                count = 0
            if self.failures:
                self.stopping.wait(self.backoff())
            elif count < self.batch_size:
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
