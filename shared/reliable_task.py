"""The base of every task: a task that meets a database or Redis it cannot reach puts its
message back on its queue, after a pause; it is not failed.

Tasks are acknowledged late but also on failure (``task_acks_on_failure_or_timeout``: a
task that fails for its own reasons must not loop for ever). A task that failed only
because PostgreSQL was restarting, or a connection was cut, was therefore acknowledged and
gone: a learner's notice (``notify.deliver``) had no sweep to bring it back, and review work
waited for the reconcile sweep. Found by bench/chaos.py (PostgreSQL stopped for 30 s).

Such errors are transient by nature (the server comes back; a serialization failure or a
deadlock passes), so the message is rejected with requeue: Redis puts it back at the front
of its queue, and a worker runs it again (every task is idempotent). It is never delayed in
Redis (no countdown: a delayed message waits unacknowledged in a worker, tests/shared/
test_beat.py), so the pause is the worker's own: it sleeps before it gives the message back,
2 s doubling to 30 s while its tasks keep meeting the outage, so an outage costs a few
attempts a minute per worker process, not a loop. Anything else (a broken contract, a bug)
still fails once and is acknowledged.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import psycopg
import redis
from celery import Task
from celery.exceptions import Reject
from sqlalchemy import exc as sa_exc

log = logging.getLogger(__name__)

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError,  # connection refused or lost, server shutting down, deadlock
    sa_exc.InterfaceError,  # a connection already closed
    psycopg.OperationalError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)
FIRST_PAUSE, LONGEST_PAUSE = 2.0, 30.0


class _Outage:
    """How many of this process's tasks in a row met a transient error: the next pause."""

    streak = 0

    @classmethod
    def pause(cls) -> float:
        seconds = min(LONGEST_PAUSE, FIRST_PAUSE * 2**cls.streak)
        cls.streak = min(cls.streak + 1, 10)
        return seconds

    @classmethod
    def over(cls) -> None:
        cls.streak = 0


class ReliableTask(Task):  # type: ignore[misc]  # celery's Task is untyped
    """Celery's task, whose message goes back to its queue on ``TRANSIENT_ERRORS``."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the task; on a transient error, pause, then reject its message with requeue."""
        try:
            result = super().__call__(*args, **kwargs)
        except TRANSIENT_ERRORS as exc:
            pause = _Outage.pause()
            log.warning(
                "transient error: the message goes back to its queue",
                extra={"task": self.name, "error": type(exc).__name__, "pause": pause},
            )
            time.sleep(pause)
            raise Reject(exc, requeue=True) from exc
        _Outage.over()
        return result
