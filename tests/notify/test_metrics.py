"""Notify's gauges for the exporter: deliveries by channel and status, dead letters."""

from __future__ import annotations

from sqlalchemy import select, update

from services.notify import delivery, metrics
from services.notify.context import worker_db
from services.notify.models import Delivery, DeliveryStatus
from tests.notify.conftest import event


def gauges() -> dict[tuple[str, ...], float]:
    with worker_db().transaction() as session:
        families = list(metrics.collect(session))
    return {(f.name, *s.labels.values()): s.value for f in families for s in f.samples}


def test_every_channel_and_status_is_reported_even_at_zero() -> None:
    got = gauges()
    assert got[("cb_notify_deliveries", "sms", "dead")] == 0
    assert got[("cb_notify_dead_letters", "webhook")] == 0


def test_deliveries_and_dead_letters_are_counted_by_channel() -> None:
    with worker_db().transaction() as session:
        delivery.accept(session, event(recipient_staff_ids=[71, 72]))
    with worker_db().transaction() as session:
        made = list(session.scalars(select(Delivery.id)))
        one = session.scalars(
            update(Delivery)
            .where(Delivery.id == made[0])
            .values(status=DeliveryStatus.DEAD, last_error="gone")
            .returning(Delivery.channel)
        ).one()
    got = gauges()
    assert got[("cb_notify_dead_letters", one.value)] == 1
    assert got[("cb_notify_deliveries", one.value, "dead")] == 1
    total = sum(v for k, v in got.items() if k[0] == "cb_notify_deliveries")
    assert total == len(made)
