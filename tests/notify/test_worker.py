"""Notify's worker on the real ``notify`` queue on real Redis: an event delivered three times
is one message; a malformed event is refused and kept aside without blocking the queue."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import select

from services.notify.models import Delivery, DeliveryStatus, RefusedEvent
from services.notify.worker_db import worker_db
from tests.helpers import running_worker, wait_for
from tests.notify.conftest import sealed_phone

pytestmark = pytest.mark.integration


def wire_event(var_dir, **overrides) -> dict:
    """As the relay publishes it: JSON-ready."""
    message = {
        "message_id": str(uuid.uuid4()),
        "event_type": "intake.application_decided",
        "occurred_at": "2026-11-27T10:00:00+08:00",
        "unit_code": "AP000001",
        "unit_path": "/ZJ/B01/S001/AP000001/",
        "data": {
            "kind": "account_opening",
            "outcome": "approved",
            "account_number": "ZJ2026****0042",
        },
        "sealed": {"phone": sealed_phone(var_dir)},
    }
    message.update(overrides)
    return message


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
