"""Celery task messages as they lie on a Redis queue, built here so that many can be pushed at
once.

``send_task`` writes Celery's protocol 2 (headers, properties and the body ``[args, kwargs,
embed]``, made by ``app.amqp.as_task_v2``), which kombu's Redis transport wraps in its JSON
envelope (``virtual.Channel.basic_publish``: the body in base64, the delivery info and a
delivery tag) and LPUSHes to the queue's list (``redis.Channel._put``): one round trip per
message, and about 1.9 ms of CPU on each, most of it the kwargs' ``saferepr`` and a Redis
client object kombu makes for every publish. The relay builds the same bytes here, for the
same queue, and pushes a whole batch in one pipeline (``shared.relay``).

What is Celery's stays Celery's (``as_task_v2`` writes the headers; kombu's ``dumps`` the
JSON); what is copied from kombu is its envelope and the list a queue's default priority
lives in. tests/shared/test_task_messages.py compares every field with what ``send_task``
writes and has a real worker run one, so an upgrade that changes either fails there.

The chaos harness (bench/chaos_faults.py) and the poison tests forge and duplicate messages
with the same ``envelope`` (and ``task_message``, a bare one).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping
from typing import Any

from celery import Celery
from celery.utils.nodenames import anon_nodename
from celery.utils.saferepr import saferepr
from kombu.utils.json import dumps

JSON = "application/json"
# What a persistent message's delivery_mode is (kombu's PERSISTENT_DELIVERY_MODE), and the
# priority a message has when the sender names none: kept in the queue's own list, not in a
# priority list beside it (kombu's ``_q_for_pri`` for 0).
PERSISTENT = 2
DEFAULT_PRIORITY = 0


def envelope(
    queue: str,
    body: bytes,
    headers: Mapping[str, Any],
    content_type: str = JSON,
    properties: Mapping[str, Any] | None = None,
    delivery_tag: str | None = None,
) -> bytes:
    """kombu's Redis envelope around ``body``, published to ``queue`` through the default
    exchange, as its Redis transport writes it (the fields in kombu's order)."""
    return dumps(
        {
            "body": base64.b64encode(body).decode(),
            "content-encoding": "utf-8",
            "content-type": content_type,
            "headers": headers,
            "properties": {
                **(properties or {}),
                "delivery_mode": PERSISTENT,
                "delivery_info": {"exchange": "", "routing_key": queue},
                "priority": DEFAULT_PRIORITY,
                "body_encoding": "base64",
                "delivery_tag": delivery_tag or str(uuid.uuid4()),
            },
        }
    ).encode()


class TaskMessages:
    """The task messages of one Celery app: what its ``send_task(name, kwargs=...,
    queue=..., task_id=..., headers=...)`` would LPUSH, and to which Redis list."""

    def __init__(self, app: Celery) -> None:
        self.amqp = app.amqp
        self.queues = app.amqp.queues
        self.reply_to = app.thread_oid  # the oid send_task names its results after
        self.origin = anon_nodename()  # send_task works it out again for every message
        self.maxsize = app.amqp.kwargsrepr_maxsize
        self.maxlevels = app.conf.task_repr_maxlevels
        self._routes: dict[str, str] = {}

    def build(
        self,
        task_id: str,
        name: str,
        kwargs: dict[str, Any],
        queue: str,
        headers: Mapping[str, Any] | None = None,
    ) -> tuple[str, bytes]:
        """The Redis list to push to, and the message ``name(**kwargs)`` as kombu writes it."""
        key = self._routes.get(queue) or self._route(queue)
        message = self.amqp.as_task_v2(
            task_id,
            name,
            kwargs=kwargs,
            reply_to=self.reply_to,
            origin=self.origin,
            ignore_result=None,  # send_task's when the task is not registered here
            argsrepr="()",
            kwargsrepr=json_repr(kwargs, self.maxsize, self.maxlevels),
        )
        task_headers = message.headers
        if headers:
            task_headers.update(headers)
        body = dumps(message.body).encode()
        return key, envelope(queue, body, task_headers, JSON, message.properties)

    def _route(self, queue: str) -> str:
        # send_task publishes to a direct exchange's queue through the default exchange,
        # routing key the queue's name (celery.app.amqp's send_task_message); a queue not
        # declared is declared as a direct one, as Celery's own lookup does.
        declared = self.queues[queue]
        if declared.exchange.type != "direct":
            raise ValueError(f"queue {queue!r}: only direct queues are published here")
        self._routes[queue] = queue
        return queue


def json_repr(value: Any, maxsize: int, maxlevels: int) -> str:
    """``saferepr(value, maxsize, maxlevels)`` (Celery's ``kwargsrepr``), written directly for
    the JSON values a message carries: saferepr walks a token stream and takes about 50 times
    as long. Whatever might be cut short or elided is left to saferepr itself."""
    text = _json_repr(value, 0, maxlevels)
    if text is None or len(text) >= maxsize:
        return saferepr(value, maxsize, maxlevels=maxlevels)
    return text


def _json_repr(value: Any, level: int, maxlevels: int) -> str | None:
    if isinstance(value, str):
        return _quoted(value)
    if value is None or isinstance(value, (bool, int, float)):
        return str(value)
    if (maxlevels and level >= maxlevels) or not isinstance(value, (dict, list)):
        return None  # a container saferepr writes as "{...}", or a type of its own
    parts = []
    if isinstance(value, dict):
        for key, item in value.items():
            text = _json_repr(item, level + 1, maxlevels)
            if text is None or not isinstance(key, str):
                return None
            parts.append(f"{_quoted(key)}: {text}")
        return "{" + ", ".join(parts) + "}"
    for item in value:
        text = _json_repr(item, level + 1, maxlevels)
        if text is None:
            return None
        parts.append(text)
    return "[" + ", ".join(parts) + "]"


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "\\'") + "'"  # saferepr's quotes, not repr's


def task_message(
    queue: str, name: str, kwargs: dict[str, Any], task_id: str | None = None
) -> bytes:
    """A bare task message for ``name(**kwargs)`` on ``queue``: protocol 2's own headers
    only, as a sender other than Celery might write one (the chaos harness's and the poison
    tests' forgeries and duplicates; Celery's optional headers would add a copy of the kwargs,
    ``kwargsrepr``, which the poison tests' log checks are not about)."""
    task_id = task_id or str(uuid.uuid4())
    body = dumps([[], kwargs, {"callbacks": None, "errbacks": None, "chain": None}])
    headers = {"lang": "py", "task": name, "id": task_id, "root_id": task_id, "retries": 0}
    return envelope(queue, body.encode(), headers)
