"""Poison messages: what a worker took off its queue and could not act on, recorded in the
receiving service's own database (``poison_messages``), so that ops can see it after Redis
has been restarted empty, and so that it never blocks the queue it came on.

A message is poison when
- its bytes are not a message at all (not JSON, or JSON that is not kombu's envelope):
  reason ``undecodable``, seen by the transport (``shared.kombu_fixes``);
- its body cannot be decoded, or its content type is not accepted: ``undecodable``, seen
  by the worker's consumer (``PoisonAwareConsumer``, or Celery's ``task_rejected`` signal);
- it is not Celery's task protocol: ``not_a_task`` (``task_rejected``);
- it names no task the worker knows: ``unknown_task`` (``task_unknown``);
- its task knows it but the payload breaks the task's contract: ``contract``
  (``task_failure`` with a ``shared.contracts.ContractError``).

Each is acknowledged (dropped from the queue) and recorded by what identifies it, never by
what it says: the body's SHA-256 and size, the queue, the reason, the task name and id from
its headers, and for a contract breach the names of the fields at fault. A body may hold
personal data in clear (it is what is wrong), so it is neither stored nor logged.
A duplicate of a real message is no poison: receivers drop it by ``message_id``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from datetime import datetime
from typing import Any

from celery import signals
from celery.worker.consumer import Consumer
from kombu.exceptions import ContentDisallowed, DecodeError
from sqlalchemy import (
    BigInteger,
    DateTime,
    Engine,
    Identity,
    Integer,
    String,
    func,
    insert,
    table,
    text,
)
from sqlalchemy import column as sa_column
from sqlalchemy.orm import Mapped, Session, mapped_column

from shared import kombu_fixes
from shared.contracts import ContractError
from shared.db import make_engine

log = logging.getLogger("poison")

REASONS = ("undecodable", "not_a_task", "unknown_task", "contract")


class PoisonMessageMixin:
    """Columns of a service's ``poison_messages`` table; mix into its declarative base."""

    __tablename__ = "poison_messages"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    queue: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(20))
    task_name: Mapped[str | None] = mapped_column(String(200))
    task_id: Mapped[str | None] = mapped_column(String(200))
    digest: Mapped[str] = mapped_column(String(64))  # SHA-256 of the body, hex
    size: Mapped[int] = mapped_column(Integer)
    # For a contract breach: the fields at fault and why (the schema's words, no values).
    detail: Mapped[str | None] = mapped_column(String(500))


_poison = table(
    "poison_messages",
    *(
        sa_column(name)
        for name in ("queue", "reason", "task_name", "task_id", "digest", "size", "detail")
    ),
)

# The receiving service's database, set when its worker starts (``worker_init``); an engine
# per process, made on first use (a pool's processes are forked from the main one).
_database_url: str | None = None
_engines: dict[int, Engine] = {}


def _engine() -> Engine | None:
    if _database_url is None:
        return None
    pid = os.getpid()
    if pid not in _engines:
        # Pre-ping: poison is rare, so its one connection is mostly idle, and after a
        # PostgreSQL restart it would be found dead only by the record it was to write.
        _engines[pid] = make_engine(_database_url, pool_size=1, max_overflow=1, pool_pre_ping=True)
    return _engines[pid]


# Records not written yet (the database unreachable), written by a timer when it answers.
# They are logged at once, digest and all, so a process that dies first still left them.
_unwritten: list[dict[str, Any]] = []
_unwritten_lock = threading.Lock()
_retrying = threading.Event()  # a timer is armed
UNWRITTEN_MAX = 1000
RETRY_SECONDS = 5.0


def record(
    reason: str,
    body: bytes,
    *,
    queue: str | None = None,
    task_name: Any = None,
    task_id: Any = None,
    detail: str | None = None,
) -> None:
    """Keep one poison message in this worker's database. The message is dropped either
    way (keeping it would block its queue or loop for ever); a record that cannot be
    written now (the database is down) is written later, from memory."""
    values = {
        "queue": _short(queue, 100),
        "reason": reason,
        "task_name": _short(task_name, 200),
        "task_id": _short(task_id, 200),
        "digest": hashlib.sha256(body).hexdigest(),
        "size": len(body),
        "detail": _short(detail, 500),
    }
    log.warning("poison message dropped", extra={"poison": values})
    with _unwritten_lock:
        if len(_unwritten) < UNWRITTEN_MAX:
            _unwritten.append(values)
    _write_unwritten()


def _write_unwritten() -> None:
    engine = _engine()
    if engine is None:
        return
    with _unwritten_lock:
        if not _unwritten:
            return
        try:
            with engine.begin() as conn:
                conn.execute(insert(_poison), _unwritten)
        except Exception as exc:  # recording must never stop the consumer: try again later
            log.error(
                "poison messages not recorded yet",
                extra={"error": type(exc).__name__, "count": len(_unwritten)},
            )
            if not _retrying.is_set():
                _retrying.set()
                timer = threading.Timer(RETRY_SECONDS, _retry_unwritten)
                timer.daemon = True
                timer.start()
            return
        _unwritten.clear()


def _retry_unwritten() -> None:
    _retrying.clear()
    _write_unwritten()


def counts(session: Session) -> dict[str, int]:
    """Poison messages recorded in this database, by reason (read by the metrics exporter)."""
    rows = session.execute(text("SELECT reason, count(*) FROM poison_messages GROUP BY reason"))
    return {str(reason): int(n) for reason, n in rows}


def _short(value: Any, length: int) -> str | None:
    return None if value is None else str(value)[:length]


def _raw_body(message: Any) -> bytes:
    body = getattr(message, "body", b"")
    if isinstance(body, str):
        return body.encode("utf-8", "surrogateescape")
    return bytes(body or b"")


def _headers(message: Any) -> dict[str, Any]:
    headers = getattr(message, "headers", None)
    return headers if isinstance(headers, dict) else {}


def _queue(message: Any) -> str | None:
    info = getattr(message, "delivery_info", None) or {}
    return info.get("routing_key") or info.get("exchange") or None


# What Celery's own handlers write into the log in place of the body they would dump: the
# body may hold anything (a misrouted message, a forged one) and the record has its digest.
BODY_NOT_LOGGED = "<body not logged: recorded in poison_messages by its digest>"


ARGUMENT_COPIES = frozenset({"argsrepr", "kwargsrepr"})


class PoisonAwareConsumer(Consumer):
    """Celery's consumer, with an undecodable body recorded (not logged: Celery's own
    handler writes the body into the log) and acknowledged; an unknown task, a message of no
    known format or an invalid one handled by Celery's own code (which rejects it and sends
    the signals recording it) with the body left out of its log line."""

    def on_unknown_message(self, body: Any, message: Any) -> None:
        super().on_unknown_message(BODY_NOT_LOGGED, message)

    def on_unknown_task(self, body: Any, message: Any, exc: Exception) -> None:
        # Celery's handler logs the headers too, and a sender's (send_task's) carry a copy of
        # the arguments as text: ``argsrepr`` and ``kwargsrepr``. Left out while it logs.
        headers = message.headers
        message.headers = {k: v for k, v in headers.items() if k not in ARGUMENT_COPIES}
        try:
            super().on_unknown_task(BODY_NOT_LOGGED, message, exc)
        finally:
            message.headers = headers

    def on_invalid_task(self, body: Any, message: Any, exc: Exception) -> None:
        super().on_invalid_task(BODY_NOT_LOGGED, message, exc)

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        """Record by digest, then drop: redelivering it would fail the same way for ever."""
        headers = _headers(message)
        record(
            "undecodable",
            _raw_body(message),
            queue=_queue(message),
            task_name=headers.get("task"),
            task_id=headers.get("id"),
            detail=type(exc).__name__,
        )
        message.ack()


def contract_detail(exc: ContractError) -> str:
    """The fields at fault and the schema's words for why, without any value."""
    return json.dumps(exc.messages, ensure_ascii=False, sort_keys=True, default=str)[:500]


def connect(database_url: str) -> None:
    """Record this process's poison messages in ``database_url`` (its service's database)."""
    global _database_url
    _database_url = database_url


def _not_a_message(queue: str, item: bytes, why: str) -> None:
    record("undecodable", item, queue=queue, detail=why)


kombu_fixes.on_not_a_message = _not_a_message


@signals.worker_init.connect
def _bind_database(sender: Any = None, **_kw: Any) -> None:
    settings = getattr(getattr(sender, "app", None), "conf", {}).get("cb_settings")
    if settings is not None and settings.database_url:
        connect(settings.database_url)


@signals.task_unknown.connect
def _unknown_task(message: Any = None, name: Any = None, id: Any = None, **_kw: Any) -> None:
    record("unknown_task", _raw_body(message), queue=_queue(message), task_name=name, task_id=id)


@signals.task_rejected.connect
def _not_a_task(message: Any = None, exc: Any = None, **_kw: Any) -> None:
    headers = _headers(message)
    # A content type the worker does not accept is a body it will not decode.
    undecodable = isinstance(exc, (ContentDisallowed, DecodeError))
    record(
        "undecodable" if undecodable else "not_a_task",
        _raw_body(message),
        queue=_queue(message),
        task_name=headers.get("task"),
        task_id=headers.get("id"),
        detail=type(exc).__name__ if exc is not None else None,
    )


@signals.task_failure.connect
def _contract_breach(
    sender: Any = None,
    task_id: Any = None,
    exception: Any = None,
    kwargs: Any = None,
    **_kw: Any,
) -> None:
    if not isinstance(exception, ContractError):
        return
    body = json.dumps(kwargs or {}, sort_keys=True, default=str).encode()
    request = getattr(sender, "request", None)
    info = getattr(request, "delivery_info", None) or {}
    record(
        "contract",
        body,
        queue=info.get("routing_key"),
        task_name=getattr(sender, "name", None),
        task_id=task_id,
        detail=contract_detail(exception),
    )


def create_table(op: Any) -> None:
    """The ``poison_messages`` table, for each service's migration (one shape everywhere)."""
    import sqlalchemy as sa

    op.create_table(
        "poison_messages",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column(
            "received_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("queue", sa.String(length=100), nullable=True),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("task_name", sa.String(length=200), nullable=True),
        sa.Column("task_id", sa.String(length=200), nullable=True),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_poison_messages")),
    )
