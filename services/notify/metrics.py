"""Notify's own gauges for the metrics exporter (``shared.metrics_exporter``), read from its
own tables: deliveries by channel and status, dead letters by channel."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.notify.models import Channel, Delivery, DeliveryStatus


def collect(session: Session) -> Iterator[GaugeMetricFamily]:
    counts = {
        (channel, status): n
        for channel, status, n in session.execute(
            select(Delivery.channel, Delivery.status, func.count()).group_by(
                Delivery.channel, Delivery.status
            )
        )
    }
    deliveries = GaugeMetricFamily(
        "cb_notify_deliveries",
        "Deliveries by channel and status (pending, sent, dead)",
        labels=["channel", "status"],
    )
    dead = GaugeMetricFamily(
        "cb_notify_dead_letters",
        "Deliveries that failed for good or ran out of attempts, waiting for a redrive",
        labels=["channel"],
    )
    for channel in Channel:
        for status in DeliveryStatus:
            deliveries.add_metric([channel.value, status.value], counts.get((channel, status), 0))
        dead.add_metric([channel.value], counts.get((channel, DeliveryStatus.DEAD), 0))
    yield deliveries
    yield dead
