"""Which port a worker's metrics page takes (the page: tests/integration/test_prometheus.py)."""

from __future__ import annotations

from shared.queues import QUEUES
from shared.task_metrics import WORKER_PORTS, worker_port


def test_every_queue_has_a_port_of_its_own() -> None:
    assert set(WORKER_PORTS) == set(QUEUES)
    assert len(set(WORKER_PORTS.values())) == len(QUEUES)
    assert worker_port(["review.subcentre"], {}) == WORKER_PORTS["review.subcentre"]


def test_the_environment_chooses_another_port_or_none() -> None:
    assert worker_port(["org"], {"CB_WORKER_METRICS_PORT": "9900"}) == 9900
    assert worker_port(["org"], {"CB_WORKER_METRICS_PORT": "0"}) == 0
    assert worker_port(["no.such.queue"], {}) == 0
