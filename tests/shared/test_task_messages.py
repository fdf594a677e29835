"""The task messages the relay builds (shared/task_messages.py) are what ``send_task`` writes:
field by field on the same Redis, for every queue of the system, and run by a real worker.
A Celery or kombu upgrade that changes what they write fails here."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery import Celery
from celery.utils.saferepr import saferepr
from hypothesis import example, given, settings
from hypothesis import strategies as st

from shared.celery_app import make_celery
from shared.queues import QUEUES
from shared.settings import load_settings
from shared.task_messages import TaskMessages, json_repr
from tests.consumer import RECEIVED, consumer_app
from tests.helpers import running_worker, wait_for
from tests.review.conftest import open_case_message

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def app() -> Celery:
    return make_celery(load_settings("intake"))


@pytest.fixture
def queues(redis_client: redis.Redis) -> Iterator[None]:
    redis_client.delete(*QUEUES)
    yield
    redis_client.delete(*QUEUES)


def sent_by_celery(app: Celery, client: redis.Redis, queue: str, task_id: str, kwargs: Any) -> Any:
    app.send_task(
        "review.open_case",
        kwargs=kwargs,
        queue=queue,
        task_id=task_id,
        retry=False,
        headers={"traceparent": TRACEPARENT},
    )
    (raw,) = client.lrange(queue, 0, -1)
    client.delete(queue)
    return raw


@pytest.mark.usefixtures("queues")
@pytest.mark.parametrize("queue", QUEUES)
def test_a_message_is_what_send_task_writes_field_by_field(app, redis_client, queue) -> None:
    kwargs = open_case_message()
    task_id = kwargs["message_id"]
    theirs = json.loads(sent_by_celery(app, redis_client, queue, task_id, kwargs))
    key, raw = TaskMessages(app).build(
        task_id, "review.open_case", kwargs, queue, {"traceparent": TRACEPARENT}
    )
    ours = json.loads(raw)
    assert key == queue  # the queue's own list: what kombu pushes a default priority to
    assert ours.keys() == theirs.keys()
    for name in ("content-type", "content-encoding", "headers"):
        assert ours[name] == theirs[name], name
    assert ours["headers"]["traceparent"] == TRACEPARENT and ours["headers"]["id"] == task_id
    assert base64.b64decode(ours["body"]) == base64.b64decode(theirs["body"])  # the same bytes
    assert ours["properties"].pop("delivery_tag") != theirs["properties"].pop("delivery_tag")
    assert ours["properties"] == theirs["properties"]
    # Down to the bytes, the delivery tag aside: the same JSON, its fields in kombu's order.
    tag = json.loads(raw)["properties"]["delivery_tag"]
    assert (
        raw
        == json.dumps(
            {**theirs, "properties": {**theirs["properties"], "delivery_tag": tag}}
        ).encode()
    )


def test_the_list_of_a_queues_default_priority_is_the_queue_itself(app) -> None:
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        for queue in QUEUES:
            assert channel._q_for_pri(queue, 0) == queue  # what TaskMessages pushes to


def test_a_queue_of_another_exchange_type_is_refused(app) -> None:
    from kombu import Exchange, Queue

    app.amqp.queues.add(Queue("broadcast", Exchange("broadcast", type="fanout")))
    with pytest.raises(ValueError, match="broadcast"):
        TaskMessages(app).build(str(uuid.uuid4()), "review.open_case", {}, "broadcast")


@pytest.mark.integration
@pytest.mark.usefixtures("queues")
def test_a_built_message_is_run_by_a_real_worker(redis_client) -> None:
    worker_app = consumer_app()
    redis_client.delete(RECEIVED)
    kwargs = open_case_message()
    key, raw = TaskMessages(make_celery(load_settings("intake"))).build(
        kwargs["message_id"], "review.open_case", kwargs, "review.subcentre"
    )
    redis_client.lpush(key, raw)
    with running_worker(worker_app, ["review.subcentre"]):
        wait_for(lambda: redis_client.llen(RECEIVED) == 1)
    assert json.loads(redis_client.lindex(RECEIVED, 0)) == kwargs
    redis_client.delete(RECEIVED)


# JSON values as a message's kwargs hold them (from JSONB): text of every kind, nesting past
# saferepr's three levels, and long enough to be cut short.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(kwargs=st.dictionaries(st.text(), json_values, max_size=6))
@example(kwargs={"q": "it's", "n": {"x": {"y": {"z": 1}}}, "s": "a\\b\n", "t": True})
@example(kwargs={"long": "x" * 1100})
@example(kwargs={"edge": "x" * 1013})  # "{'edge': '...'}" of exactly 1024 characters
def test_the_kwargs_repr_is_celerys_saferepr(kwargs: dict[str, Any]) -> None:
    assert json_repr(kwargs, 1024, 3) == saferepr(kwargs, 1024, maxlevels=3)
    assert json_repr(kwargs, 40, 2) == saferepr(kwargs, 40, maxlevels=2)
