"""A fix for kombu's Redis transport (5.7), applied by ``shared.celery_app``.

When Redis goes away, a worker's consumer closes its broker connection; closing the channel
tries to put its unacknowledged messages back, which needs a Redis client, which is built from
the connection's details. If the transport has already dropped them (``client`` is None),
kombu raises AttributeError. That is not among the connection errors the worker ignores while
reconnecting, so the worker stops with "Unrecoverable error" instead of waiting for Redis to
come back. Found by tests/review/test_faults.py (Redis restarted mid-flow), intermittently.

Here the missing details are reported as what they mean, a lost connection, so the worker
carries on reconnecting. Nothing is lost by skipping that restore: the messages stay in the
unacked set and the visibility-timeout sweep hands them out again.
"""

from __future__ import annotations

from typing import Any

import redis
from kombu.transport import redis as kombu_redis

_original_connparams = kombu_redis.Channel._connparams


def _connparams(self: Any, asynchronous: bool = False) -> Any:
    if self.connection is None or self.connection.client is None:
        raise redis.exceptions.ConnectionError("the broker connection is already closed")
    return _original_connparams(self, asynchronous)


def apply() -> None:
    setattr(kombu_redis.Channel, "_connparams", _connparams)  # noqa: B010 - a patch
