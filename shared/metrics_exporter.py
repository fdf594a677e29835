"""The exporter of what no web worker can count: the queues in Redis, each service's outbox
and each service's own domain gauges. One per deployment:

    python -m shared.metrics_exporter --bind 127.0.0.1:9800

Gunicorn's multiprocess mode allows no custom collector, so these gauges live here, read at
each scrape (no Celery events needed):

- per queue (``shared.queues.QUEUES``): messages waiting (``LLEN``) and delivered but not
  acknowledged (kombu's ``unacked`` hash, by the routing key each entry carries);
- per service database: the outbox's unsent rows and the oldest one's age, as its relay sees
  them (``shared.outbox.unsent``), and the poison messages its workers recorded, by reason
  (``shared.poison.counts``, ``cb_poison_messages``);
- per service: what its own ``services/<name>/metrics.py`` yields (review's cases per level
  and unit, notify's deliveries and dead letters, intake's imports in progress).

No query of a service's tables is written here: each service's ``metrics.py`` knows its
tables, and the exporter runs it with that service's own database URL, as the service's
relay runs in its name. A source that fails (its database down) is reported by
``cb_exporter_source_up`` = 0 and leaves the others standing.

``/metrics`` answers loopback or ``Authorization: Bearer $CB_METRICS_TOKEN``, like the web
apps' (``shared.metrics``).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator

import redis
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from shared import outbox, poison
from shared.db import make_engine
from shared.logs import configure_logging
from shared.metrics import protected_app, serve
from shared.queues import QUEUES
from shared.settings import SERVICES, Settings, load_settings

log = logging.getLogger("metrics_exporter")
UNACKED_KEY = "unacked"  # kombu's hash of delivered, unacknowledged messages
DomainCollect = Callable[[Session], Iterable[Metric]]


def queue_depths(client: redis.Redis) -> dict[str, tuple[int, int]]:
    """Per queue: messages waiting and messages unacknowledged."""
    with client.pipeline(transaction=False) as pipe:
        for queue in QUEUES:
            pipe.llen(queue)
        pipe.hvals(UNACKED_KEY)
        *lengths, unacked = pipe.execute()
    held = dict.fromkeys(QUEUES, 0)
    for value in unacked:
        try:
            routing_key = json.loads(value)[2]  # [message, exchange, routing key]
        except (ValueError, IndexError, TypeError):
            continue
        if routing_key in held:
            held[routing_key] += 1
    return {queue: (lengths[i], held[queue]) for i, queue in enumerate(QUEUES)}


def domain_collector(service: str) -> DomainCollect | None:
    """``services/<service>/metrics.py``'s ``collect``, if the service has one."""
    module = f"services.{service}.metrics"
    if importlib.util.find_spec(module) is None:
        return None
    collect: DomainCollect = importlib.import_module(module).collect
    return collect


class SystemCollector(Collector):
    """Reads Redis and every service's database at each scrape."""

    def __init__(self, redis_client: redis.Redis, engines: dict[str, Engine]) -> None:
        self.redis, self.engines = redis_client, engines
        self.domains = {service: domain_collector(service) for service in engines}

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "cb_exporter_source_up", "1 if the source answered this scrape", labels=["source"]
        )
        took = GaugeMetricFamily(
            "cb_exporter_source_seconds", "Time to read the source", labels=["source"]
        )
        sources: list[tuple[str, Callable[[], list[Metric]]]] = [("redis", self._queues)]
        sources += [(service, self._service(service)) for service in self.engines]
        for name, read in sources:
            started = time.perf_counter()
            try:
                yield from read()
                up.add_metric([name], 1)
            except Exception as exc:  # one line a scrape: a down database is no new news
                log.warning("metrics source %s failed: %s: %s", name, type(exc).__name__, exc)
                up.add_metric([name], 0)
            took.add_metric([name], time.perf_counter() - started)
        yield up
        yield took

    def _queues(self) -> list[Metric]:
        waiting = GaugeMetricFamily(
            "cb_queue_messages", "Messages waiting on the queue (LLEN)", labels=["queue"]
        )
        unacked = GaugeMetricFamily(
            "cb_queue_unacked",
            "Messages delivered to a worker and not yet acknowledged",
            labels=["queue"],
        )
        for queue, (length, held) in queue_depths(self.redis).items():
            waiting.add_metric([queue], length)
            unacked.add_metric([queue], held)
        return [waiting, unacked]

    def _service(self, service: str) -> Callable[[], list[Metric]]:
        def read() -> list[Metric]:
            with Session(self.engines[service]) as session:
                count, age = outbox.unsent(session)
                metrics: list[Metric] = [
                    _gauge("cb_outbox_unsent", "Outbox rows not yet sent", service, count),
                    _gauge(
                        "cb_outbox_oldest_unsent_age_seconds",
                        "Age of the oldest unsent outbox row (0 when none)",
                        service,
                        age,
                    ),
                ]
                recorded = GaugeMetricFamily(
                    "cb_poison_messages",
                    "Poison messages recorded (taken off a queue and dropped), by reason",
                    labels=["service", "reason"],
                )
                for reason, n in sorted(poison.counts(session).items()):
                    recorded.add_metric([service, reason], n)
                metrics.append(recorded)
                domain = self.domains[service]
                if domain is not None:
                    metrics += list(domain(session))
                return metrics

        return read


def _gauge(name: str, documentation: str, service: str, value: float) -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(name, documentation, labels=["service"])
    gauge.add_metric([service], value)
    return gauge


def registry_for(settings: Settings, services: Iterable[str] = SERVICES) -> CollectorRegistry:
    """A registry reading Redis and each service's database (one small pool each)."""
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
    engines = {
        service: make_engine(load_settings(service).database_url, pool_size=1, max_overflow=1)
        for service in services
    }
    registry = CollectorRegistry()
    registry.register(SystemCollector(client, engines))
    return registry


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bind", default=None, help="host:port (default 127.0.0.1:9800)")
    args = parser.parse_args(argv)
    settings = load_settings("metrics")
    configure_logging("metrics_exporter", settings.log_level)
    host, _, port = (args.bind or f"127.0.0.1:{settings.metrics_exporter_port}").rpartition(":")
    app = protected_app(registry_for(settings), settings.metrics_token)
    log.info("metrics exporter listening on %s:%s", host, port)
    serve(app, host, int(port), background=False)


if __name__ == "__main__":
    main()
