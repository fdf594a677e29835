"""Celery task metrics from task signals, in the worker processes themselves (no task events):
tasks by name and outcome, and their durations.

A worker serves them on a port of its queue's own (``WORKER_PORTS``: org 9810 ... notify
9817), so the ports of ``make run``'s workers never collide and every container of a scaled
compose service uses the same one in its own network namespace (Prometheus finds them by
DNS). Two workers of one queue on one host: give the second ``CB_WORKER_METRICS_PORT`` of
its own (0: no metrics page). A port that is taken costs the page, never the worker.

The pool's processes are forked after the page starts: each writes its own file in the
worker's multiprocess directory (``<CB_METRICS_DIR>/worker-<node name>``, wiped at start),
and the page adds them up, those of exited processes included.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from typing import Any

from celery import signals

from shared.queues import QUEUES

log = logging.getLogger(__name__)
WORKER_PORTS = {queue: 9810 + i for i, queue in enumerate(QUEUES)}
_started: dict[str, float] = {}
_metrics: dict[str, Any] = {}


def metrics_dir(name: str) -> str:
    """Where a process of ours keeps its multiprocess files: ``<base>/<name>``."""
    base = os.environ.get("CB_METRICS_DIR") or os.path.join(
        tempfile.gettempdir(), f"creditbank-metrics-{os.getuid()}"
    )
    return os.path.join(base, name.replace("/", "_"))


def worker_port(queues: list[str], environ: dict[str, str] | None = None) -> int:
    """The metrics port of a worker consuming ``queues`` (0: none)."""
    environ = dict(os.environ) if environ is None else environ
    if environ.get("CB_WORKER_METRICS_PORT"):
        return int(environ["CB_WORKER_METRICS_PORT"])
    return next((WORKER_PORTS[q] for q in queues if q in WORKER_PORTS), 0)


def start(nodename: str, queues: list[str], host: str = "") -> int:
    """Switch this process to multiprocess metrics and serve them; the port, or 0."""
    from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess, values

    from shared.metrics import protected_app, serve
    from shared.settings import load_settings

    port = worker_port(queues)
    if not port:
        return 0
    directory = metrics_dir(f"worker-{nodename}")
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory, mode=0o700)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    values.ValueClass = values.get_value_class()  # chosen at import: choose again
    _metrics["runs"] = Counter(
        "cb_celery_tasks", "Tasks run, by task name and outcome", ["task", "outcome"]
    )
    _metrics["seconds"] = Histogram(
        "cb_celery_task_duration_seconds",
        "Time a task ran, by task name and outcome",
        ["task", "outcome"],
        buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
    )
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)
    token = load_settings("metrics").metrics_token
    host = host or os.environ.get("CB_WORKER_METRICS_HOST", "127.0.0.1")
    try:
        serve(protected_app(registry, token), host, port)
    except OSError as exc:
        log.warning("worker metrics: port %s not served (%s)", port, exc)
        return 0
    return port


def record(task: str, outcome: str, seconds: float) -> None:
    if _metrics:
        _metrics["runs"].labels(task, outcome).inc()
        _metrics["seconds"].labels(task, outcome).observe(seconds)


@signals.celeryd_init.connect
def _on_worker_start(sender: str = "", options: Any = None, **_kw: Any) -> None:
    queues = (options or {}).get("queues") or []
    if isinstance(queues, str):
        queues = queues.split(",")
    port = start(sender, list(queues))
    if port:
        log.info("worker metrics on port %s", port)


@signals.task_prerun.connect
def _task_started(task_id: str = "", **_kw: Any) -> None:
    _started[task_id] = time.perf_counter()


@signals.task_postrun.connect
def _task_ended(task_id: str = "", task: Any = None, state: str | None = None, **_kw: Any) -> None:
    started = _started.pop(task_id, None)
    if started is not None and task is not None:
        record(task.name, (state or "unknown").lower(), time.perf_counter() - started)
