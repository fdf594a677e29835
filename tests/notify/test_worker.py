"""Notify's worker on the real ``notify`` queue on real Redis: an event delivered three times
is one message; a malformed event is refused and kept aside without blocking the queue."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from services.notify.context import worker_db
from services.notify.models import Delivery, DeliveryStatus, RefusedEvent
from tests.helpers import running_worker, wait_for
from tests.notify.conftest import wire_event

pytestmark = pytest.mark.integration


def sms_rows() -> list[Delivery]:
    with worker_db().transaction() as session:
        return list(session.scalars(select(Delivery).where(Delivery.channel == "sms")))


def test_three_deliveries_of_one_event_send_one_sms(var_dir) -> None:
    from services.notify.worker import celery

    message = wire_event(var_dir)
    with running_worker(celery, ["notify"]):
        for _ in range(3):
            celery.send_task(
                "notify.deliver", kwargs=message, queue="notify", task_id=message["message_id"]
            )
        (row,) = wait_for(
            lambda: [r for r in sms_rows() if r.status == DeliveryStatus.SENT], timeout=20
        )
        wait_for(lambda: not celery.connection_for_write().default_channel.client.llen("notify"))
    assert len(sms_rows()) == 1  # one delivery planned, however often the event came
    sent = (var_dir / "sms" / f"{row.id}.txt").read_text()
    assert "学习账号 ZJ2026****0042" in sent and "13812345678" not in sent


def test_a_malformed_event_is_refused_kept_aside_and_the_queue_moves_on(var_dir) -> None:
    from services.notify.worker import celery

    bad = wire_event(var_dir, unit_code="", data={"note": "13812345678"})
    bad["event_type"] = "nobody.knows"
    good = wire_event(var_dir)
    with running_worker(celery, ["notify"]):
        celery.send_task("notify.deliver", kwargs=bad, queue="notify")
        celery.send_task("notify.deliver", kwargs=good, queue="notify")
        wait_for(lambda: sms_rows(), timeout=20)
    with worker_db().transaction() as session:
        (refused,) = session.scalars(select(RefusedEvent)).all()
        stored = json.dumps(
            {"m": refused.message_id, "t": refused.event_type, "e": refused.errors},
            ensure_ascii=False,
        )
    assert refused.message_id == bad["message_id"] and refused.event_type == "nobody.knows"
    assert set(refused.errors) == {"event_type", "unit_code"}
    assert "13812345678" not in stored


@pytest.mark.slow
def test_gateway_down_then_back_and_always_failing_through_a_real_worker(
    var_dir, gateway, monkeypatch
) -> None:
    """Retries are held in the database and picked up by beat's ``notify.dispatch`` on the
    worker: down then back is delivered once; always failing is dead-lettered after the set
    tries, then redriven over the API and delivered."""
    from services.notify.app import create_app
    from services.notify.context import worker_context
    from services.notify.worker import celery
    from tests.factories import TokenFactory

    for name, value in {
        "CB_SMS_PROVIDER": "http",
        "CB_SMS_GATEWAY_URL": gateway.url,
        "CB_NOTIFY_RETRY_BASE_SECONDS": "0.05",
        "CB_NOTIFY_MAX_ATTEMPTS": "3",
    }.items():
        monkeypatch.setenv(name, value)
    worker_context.cache_clear()  # the worker's context is built again from these
    try:
        flaky, broken = wire_event(var_dir), wire_event(var_dir)
        gateway.failures = [503, 503]
        with running_worker(celery, ["notify"]):
            celery.send_task("notify.deliver", kwargs=flaky, queue="notify")

            def beat_until(condition):
                def tick():
                    celery.send_task("notify.dispatch", queue="notify")
                    return condition()

                return wait_for(tick, timeout=30, interval=0.3)

            beat_until(lambda: str_ids(DeliveryStatus.SENT))
            assert [r["status"] for r in gateway.requests] == [503, 503, 200]
            gateway.failures = [500] * 3
            celery.send_task("notify.deliver", kwargs=broken, queue="notify")
            (dead,) = beat_until(lambda: str_ids(DeliveryStatus.DEAD))
            assert [r["status"] for r in gateway.requests[3:]] == [500, 500, 500]
            admin = TokenFactory(var_dir).make(
                "S001", "/ZJ/B01/S001/", "subcentre", roles=("admin",)
            )
            r = (
                create_app()
                .test_client()
                .post(f"/api/v1/dead-letters/{dead}/redrive", headers=admin)
            )
            assert r.status_code == 200, r.json
            beat_until(lambda: len(str_ids(DeliveryStatus.SENT)) == 2)
        assert len(gateway.accepted()) == 2  # each learner's message accepted exactly once
    finally:
        monkeypatch.undo()
        worker_context.cache_clear()


def str_ids(status: DeliveryStatus) -> list[str]:
    return [str(r.id) for r in sms_rows() if r.status == status]
