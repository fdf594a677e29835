"""Review's own gauges for the metrics exporter (``shared.metrics_exporter``), read from its
own tables: open cases per level and unit, pending, claimed and overdue."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from sqlalchemy.orm import Session

from services.review.backlog import COUNTS, open_counts


def collect(session: Session) -> Iterator[GaugeMetricFamily]:
    cases = GaugeMetricFamily(
        "cb_review_cases",
        "Open review cases by level, unit and state (pending, claimed; overdue: open past "
        "the level's deadline, claimed or not)",
        labels=["level", "unit", "state"],
    )
    _now, rows = open_counts(session)
    for row in rows:
        for state in COUNTS:
            cases.add_metric([row.level.value, row.unit_code, state], getattr(row, state))
    yield cases
