"""Transactional outbox: a message is a row written in the same transaction as the change.

``enqueue`` adds the row to the caller's session (the caller commits, as always); the relay
(``shared.relay``) publishes committed rows to their queue and marks them sent. A message
is therefore published only if its state change committed, and never lost after that.
The row id is the message id and the Celery task id, so receivers can drop duplicates.

A row also keeps the W3C ``traceparent`` of the span that wrote it (tracing on): the relay
publishes it long after that span ended, and continues its trace from it (``shared.tracing``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Index, Integer, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column

from shared import contracts, tracing
from shared.queues import queue_for

NOTIFY_CHANNEL = "outbox"

# Run by each service's migration after creating its ``outbox`` table: wakes the relay as
# soon as a row commits (NOTIFY is delivered at commit), so it need not poll hard.
CREATE_NOTIFY_TRIGGER = f"""
CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('{NOTIFY_CHANNEL}', '');
  RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
  FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
"""
DROP_NOTIFY_TRIGGER = """
DROP TRIGGER IF EXISTS outbox_notify ON outbox;
DROP FUNCTION IF EXISTS outbox_notify();
"""


class OutboxMixin:
    """Columns of a service's ``outbox`` table; mix into the service's declarative base."""

    __tablename__ = "outbox"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    task_name: Mapped[str] = mapped_column(String(100))
    queue: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    available_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    # "00-<trace id>-<span id>-<flags>": 55 characters; a later version of the format may
    # add fields, hence the room.
    traceparent: Mapped[str | None] = mapped_column(String(128))

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (
            Index(
                "ix_outbox_pending",
                "available_at",
                postgresql_where=text("sent_at IS NULL"),
            ),
        )


def enqueue(
    session: Session,
    model: type[OutboxMixin],
    task_name: str,
    payload: dict[str, Any],
    queue: str | None = None,
) -> uuid.UUID:
    """Add the message ``task_name(**payload)`` to the outbox in ``session``'s transaction.

    ``payload`` gets a ``message_id`` (the row id) and is checked against its contract; the
    row keeps the current span's trace context, and the span learns which application it
    works on (the message's ``application_id``, if it names one).
    """
    message_id = uuid.uuid4()
    payload = {**payload, "message_id": str(message_id)}
    contracts.check(task_name, payload)
    session.add(
        model(  # type: ignore[call-arg]  # a mapped subclass takes its columns as keywords
            id=message_id,
            task_name=task_name,
            queue=queue or queue_for(task_name),
            payload=payload,
            traceparent=tracing.current_traceparent(),
        )
    )
    tracing.annotate(payload.get("application_id"))
    return message_id


def unsent(session: Session) -> tuple[int, float]:
    """How many of this database's outbox rows are not sent yet, and the oldest one's age in
    seconds (0 when none): what the relay still owes (read by the metrics exporter)."""
    row = session.execute(
        text(
            "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)"
            " FROM outbox WHERE sent_at IS NULL"
        )
    ).one()
    return int(row[0]), float(row[1])
