"""Intake's own gauges for the metrics exporter (``shared.metrics_exporter``), read from its
own tables: bulk imports in progress (received, or their chunks being read)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.intake.models import Import, ImportStatus

IN_PROGRESS = (ImportStatus.RECEIVED, ImportStatus.PROCESSING)


def collect(session: Session) -> Iterator[GaugeMetricFamily]:
    counts = dict(
        session.execute(
            select(Import.status, func.count())
            .where(Import.status.in_(IN_PROGRESS))
            .group_by(Import.status)
        ).all()
    )
    imports = GaugeMetricFamily(
        "cb_intake_imports_in_progress",
        "Bulk imports not yet through: received (rows not read yet) or processing",
        labels=["status"],
    )
    for status in IN_PROGRESS:
        imports.add_metric([status.value], counts.get(status, 0))
    yield imports
