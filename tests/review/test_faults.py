"""Faults, with real worker processes on real Redis: a level's worker killed with SIGKILL in
the middle of its work, and Redis restarted (empty: no persistence) in the middle of a flow.
Every case still opens, none twice; the same workers carry on without a restart."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from celery import Celery
from sqlalchemy import func, select

from services.review import config, decisions
from services.review.context import worker_db
from services.review.models import Case, CaseStatus
from shared import contracts
from shared.celery_app import make_celery
from tests.helpers import PrivateRedis, Relay, WorkerProcess, wait_for
from tests.review.conftest import POINT_REVIEWER, open_case_message

pytestmark = [pytest.mark.integration, pytest.mark.slow]
POINT_QUEUE, SUBCENTRE_QUEUE = "review.acceptance_point", "review.subcentre"
# A killed worker's unacknowledged messages come back after the visibility timeout; a short
# one keeps the test short (the time limit must stay below it).
QUICK_REDELIVERY = {
    "CB_VISIBILITY_TIMEOUT": "6",
    "CB_TASK_TIME_LIMIT": "4",
    "CB_REDELIVERY_CHECK_SECONDS": "1",
}


def send(app: Celery, message: dict[str, Any], queue: str = POINT_QUEUE) -> None:
    """Publish as the intake relay does: the message id is the task id."""
    app.send_task("review.open_case", kwargs=message, queue=queue, task_id=message["message_id"])


def reconcile(app: Celery, messages: list[dict[str, Any]]) -> None:
    """What intake's sweep sends for applications still in review."""
    payload = {
        "message_id": str(uuid.uuid4()),
        "applications": [{k: v for k, v in m.items() if k != "message_id"} for m in messages],
    }
    contracts.check("review.reconcile", payload)
    app.send_task("review.reconcile", kwargs=payload, queue=POINT_QUEUE)


def drained(app: Celery, queue: str) -> bool:
    """Nothing left in Redis for ``queue``: neither queued nor held unacknowledged."""
    with app.connection_for_write() as conn:
        client = conn.default_channel.client
        return not client.llen(queue) and not client.hlen("unacked")


def cases_per_application(ids: list[str], level: str) -> dict[str, int]:
    with worker_db().transaction() as session:
        rows = session.execute(
            select(Case.application_id, func.count())
            .where(Case.application_id.in_(ids), Case.level == level)
            .group_by(Case.application_id)
        ).all()
    return {str(a): n for a, n in rows}


def test_kill_9_of_a_level_worker_loses_no_case_and_opens_none_twice() -> None:
    from services.review.worker import celery

    messages = [open_case_message(certificate_number=None) for _ in range(400)]
    ids = [m["application_id"] for m in messages]
    worker = WorkerProcess("services.review.worker", [POINT_QUEUE], "point-a", **QUICK_REDELIVERY)
    again = WorkerProcess("services.review.worker", [POINT_QUEUE], "point-b", **QUICK_REDELIVERY)
    try:
        for message in messages:
            send(celery, message)
        worker.start()
        wait_for(lambda: len(cases_per_application(ids, "acceptance_point")) >= 60, timeout=60)
        worker.kill()  # main process and pool, mid-stream, nothing acknowledged in flight
        at_kill = len(cases_per_application(ids, "acceptance_point"))
        assert at_kill < len(messages), "the worker finished before it could be killed"
        again.start()  # takes the queue on, and restores what the killed one held unacked
        wait_for(lambda: drained(celery, POINT_QUEUE), timeout=60, interval=0.5)
        # A message taken from Redis but not yet recorded as unacknowledged dies with the
        # worker; intake's reconciliation sweep is what brings it back.
        reconcile(celery, messages)
        opened = wait_for(
            lambda: (
                (c := cases_per_application(ids, "acceptance_point")) and len(c) == len(ids) and c
            ),
            timeout=60,
        )
    finally:
        worker.close()
        again.close()
    assert set(opened) == set(ids) and set(opened.values()) == {1}


def test_a_sweep_lock_left_by_a_killed_worker_holds_redelivery_up_no_longer_than_a_check() -> None:
    """A worker killed (or cut off from Redis) in the middle of its restore sweep leaves the
    sweep's lock behind in Redis, and while it is held no worker restores anything. What
    another killed worker held comes back once the visibility timeout and a check's interval
    have passed, not after kombu's own five minutes of lock (the likeliest cause of a chaos
    run's five messages still unacknowledged after settling for three minutes, after a cut
    to Redis while Redis was slowed, which makes every sweep hold the lock for seconds)."""
    from services.review.worker import celery

    message = open_case_message(certificate_number=None)
    send(celery, message, queue="parked")  # a queue no one reads: the message's bytes
    quick = config.settings(
        {"visibility_timeout": 6, "task_time_limit": 4, "redelivery_check_seconds": 1}
    )
    options = make_celery(quick).conf.broker_transport_options
    expire = options.get("unacked_mutex_expire", 300)  # kombu's own, unless configured
    with celery.connection_for_write() as conn:
        client = conn.default_channel.client
        payload = json.loads(client.rpop("parked"))
        tag = payload["properties"]["delivery_tag"]
        # As a worker killed in the middle of the task leaves it (kombu's QoS.append), a
        # minute ago; and the sweep's lock as a worker killed in the middle of a sweep does.
        client.hset("unacked", tag, json.dumps([payload, "", POINT_QUEUE]))
        client.zadd("unacked_index", {tag: time.time() - 60})
        assert client.lock("unacked_mutex", timeout=expire).acquire(blocking=False)
    worker = WorkerProcess("services.review.worker", [POINT_QUEUE], "point-c", **QUICK_REDELIVERY)
    application = message["application_id"]
    try:
        worker.start()
        opened = wait_for(lambda: cases_per_application([application], "acceptance_point"))
        wait_for(lambda: drained(celery, POINT_QUEUE))
    finally:
        worker.close()
    assert opened == {application: 1}


def test_redis_restarted_empty_mid_flow_the_same_workers_carry_on() -> None:
    server = PrivateRedis().start(appendonly=False)  # the harsh case: Redis comes back empty
    env = {"CB_REDIS_URL": server.url}
    app = make_celery(config.settings({"redis_url": server.url}))
    point = WorkerProcess("services.review.worker", [POINT_QUEUE], "point", **env)
    subcentre = WorkerProcess("services.review.worker", [SUBCENTRE_QUEUE], "subcentre", **env)
    relay = Relay("review", **env)
    messages = [open_case_message(certificate_number=None) for _ in range(40)]
    ids = [m["application_id"] for m in messages]
    try:
        point.start(), subcentre.start(), relay.start()
        pids = (point.pid, subcentre.pid)
        for message in messages:
            send(app, message)
        wait_for(lambda: len(cases_per_application(ids, "acceptance_point")) == 40, timeout=60)
        first, second = ids[:20], ids[20:]
        approve(first)  # through the outbox and the relay to the sub-centre's queue
        wait_for(lambda: cases_per_application(ids, "subcentre"), timeout=30)
        server.stop()
        approve(second)  # while Redis is away: the outbox keeps the messages
        server.start(appendonly=False)
        # The same processes, never restarted, consume what the relay publishes now...
        wait_for(lambda: set(second) <= set(cases_per_application(ids, "subcentre")), timeout=90)
        # ...and what Redis lost when it went down is redone by reconciliation.
        reconcile(app, messages)
        upper = wait_for(
            lambda: (c := cases_per_application(ids, "subcentre")) and len(c) == 40 and c,
            timeout=60,
        )
        assert (point.pid, subcentre.pid) == pids and point.alive() and subcentre.alive()
    finally:
        relay.close(), point.close(), subcentre.close()
        server.stop()
    assert set(upper.values()) == {1}
    assert set(cases_per_application(ids, "acceptance_point").values()) == {1}


def approve(ids: list[str]) -> None:
    with worker_db().transaction() as session:
        cases = session.scalars(
            select(Case).where(
                Case.application_id.in_(ids),
                Case.level == "acceptance_point",
                Case.status == CaseStatus.PENDING,
            )
        ).all()
        for case in cases:
            decisions.decide(session, POINT_REVIEWER, case.id, "approve", None)
