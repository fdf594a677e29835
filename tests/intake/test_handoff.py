"""From the window to review's first queue, through the outbox relay and real workers on
real Redis, including Redis stopped while applications are taken; and review's decisions
back through the intake worker."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from celery import signals
from flask import Flask

from services.intake.app import create_app
from services.intake.context import db
from services.intake.models import LedgerEntry
from tests.consumer import RECEIVED, consumer_app
from tests.factories import Window
from tests.helpers import PrivateRedis, Relay, running_worker, wait_for
from tests.intake.conftest import count

pytestmark = pytest.mark.integration


def received(client: redis.Redis) -> list[dict]:
    return [json.loads(m) for m in client.lrange(RECEIVED, 0, -1)]


@pytest.mark.slow
def test_every_accepted_application_reaches_review_once(var_dir) -> None:
    server = PrivateRedis().start()
    store = redis.Redis.from_url(server.url)
    app: Flask = create_app({"redis_url": server.url, "revocation_cache_seconds": 0})
    consumer = consumer_app(server.url)
    relay = Relay("intake", CB_REDIS_URL=server.url).start()
    taken: list[str] = []
    try:
        with app.app_context():
            window = Window(app.test_client(), var_dir)
            headers = window.token()
            with running_worker(consumer, ["review.acceptance_point"]):
                for _ in range(10):
                    r = window.open(headers)
                    assert r.status_code == 201 and r.json["handoff"] == "queued"
                    taken.append(r.json["id"])
                wait_for(lambda: len(received(store)) >= 10, timeout=30)
            server.stop()  # Redis goes away: the window keeps taking applications
            for _ in range(10):
                r = window.open(headers)
                assert r.status_code == 201, r.json
                assert r.json["handoff"] == "delayed"
                taken.append(r.json["id"])
            server.start()  # back (AOF kept what it had)
            with running_worker(consumer, ["review.acceptance_point"]):
                wait_for(
                    lambda: len({m["application_id"] for m in received(store)}) >= 20, timeout=60
                )
        messages = received(store)
    finally:
        relay.close()
        server.stop()
        db.remove()
    assert {m["application_id"] for m in messages} == set(taken)
    # Exactly once in effect: one message per (application, round), whatever the wire did.
    assert len({m["message_id"] for m in messages}) == len(taken)


def test_review_decisions_reach_intake_through_its_worker(window: Window) -> None:
    from services.intake.worker import celery

    headers = window.token()
    account = window.open_account(headers)
    evidence = [window.upload(headers)]
    app_id = window.client.post(
        "/api/v1/applications", headers=headers, json=window.deposit_body(account, evidence)
    ).json["id"]
    message = {
        "message_id": str(uuid.uuid4()),
        "application_id": app_id,
        "round": 1,
        "level": "subcentre",
        "outcome": "approved",
        "decided_by_id": 901,
        "decided_by": "sc-reviewer",
        "decided_at": datetime.now(UTC).isoformat(),
    }
    runs: list[str] = []  # the state each apply_decision ended in, on this worker

    def ran(task: Any = None, state: str = "", **_kw: Any) -> None:
        if task is not None and task.name == "intake.apply_decision":
            runs.append(state)

    signals.task_postrun.connect(ran, weak=False)
    try:
        with running_worker(celery, ["intake"]):
            for _ in range(3):  # delivered three times: posted once
                celery.send_task("intake.apply_decision", kwargs=message, queue="intake")
            wait_for(lambda: count(LedgerEntry) == 1)
            celery.send_task(
                "intake.apply_decision", kwargs={**message, "message_id": "nope"}, queue="intake"
            )  # breaks its contract: refused, nothing changes
            wait_for(lambda: len(runs) == 4)  # the refused one has run too, before we look
    finally:
        signals.task_postrun.disconnect(ran)
    assert sorted(runs) == ["FAILURE", "SUCCESS", "SUCCESS", "SUCCESS"]
    got = window.client.get(f"/api/v1/applications/{app_id}", headers=headers).json
    assert got["status"] == "approved"
    assert [e["type"] for e in got["timeline"]] == ["taken", "approved"]
    assert count(LedgerEntry) == 1
