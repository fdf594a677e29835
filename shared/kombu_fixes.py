"""Two fixes for kombu's Redis transport (5.7), applied by ``shared.celery_app``.

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

import binascii
from collections.abc import Callable
from queue import Empty
from typing import Any

import redis
from kombu.transport import redis as kombu_redis
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads

_original_connparams = kombu_redis.Channel._connparams


def _connparams(self: Any, asynchronous: bool = False) -> Any:
    if self.connection is None or self.connection.client is None:
        raise redis.exceptions.ConnectionError("the broker connection is already closed")
    return _original_connparams(self, asynchronous)


# --- bytes on a queue that are no message at all -------------------------------------------------
#
# kombu's Redis transport pops a queue's item (BRPOP) and parses it as its JSON envelope in
# the worker's event loop. Bytes that are not JSON, or JSON that is not the envelope, raise
# there, out of the event loop, and the whole worker stops ("Unrecoverable error:
# JSONDecodeError"): one such item on a queue stopped its worker (found by
# tests/review/test_poison_messages.py). Here the item is handed to ``on_not_a_message``
# (the poison record, ``shared.poison``) and the loop goes on with the next one.

on_not_a_message: Callable[[str, bytes, str], None] | None = None


def _envelope(channel: Any, item: bytes) -> dict[str, Any]:
    """The kombu envelope ``item`` holds; ValueError (and its kin) if it holds none."""
    payload = loads(bytes_to_str(item))
    if not isinstance(payload, dict) or not isinstance(payload.get("properties"), dict):
        raise ValueError("not a kombu envelope")
    channel.Message(payload, channel=channel)  # what the delivery will build: must not raise
    return payload


def _brpop_read(self: Any, **options: Any) -> bool:
    try:
        try:
            dest__item = self.client.parse_response(self.client.connection, "BRPOP", **options)
        except self.connection_errors:
            self.client.connection.disconnect()
            raise
        if not dest__item:
            raise Empty()
        dest, item = dest__item
        dest = bytes_to_str(dest).rsplit(self.sep, 1)[0]
        self._queue_cycle.rotate(dest)
        try:
            payload = _envelope(self, item)
        except (ValueError, TypeError, KeyError, AttributeError, binascii.Error) as exc:
            if on_not_a_message is not None:
                raw = item if isinstance(item, bytes) else str(item).encode()
                on_not_a_message(dest, raw, type(exc).__name__)
            return True
        self.connection._deliver(payload, dest)
        return True
    finally:
        self._in_poll = None
        self._flush_brpop_reauth()


def apply() -> None:
    setattr(kombu_redis.Channel, "_connparams", _connparams)  # noqa: B010 - a patch
    setattr(kombu_redis.Channel, "_brpop_read", _brpop_read)  # noqa: B010 - a patch
