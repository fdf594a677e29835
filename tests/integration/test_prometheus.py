"""The real Prometheus (Debian's ``prometheus``) scraping the running system: the exporter,
a gunicorn web service in multiprocess mode and a Celery worker. A queue's depth and an
outbox's age are read back through Prometheus's own query API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import text

from shared.celery_app import make_celery
from shared.db import make_engine
from shared.settings import load_settings
from tests.helpers import ROOT, WorkerProcess, free_port, wait_for

pytestmark = pytest.mark.integration


def http_get(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=3) as answer:
            return bytes(answer.read())
    except OSError:
        return None


class Processes:
    def __init__(self, base: Path) -> None:
        self.base, self.procs, self.ports = base, [], {}
        self.env = {**os.environ, "CB_METRICS_DIR": str(base / "metrics"), "CB_WEB_WORKERS": "2"}

    def start(self, name: str, argv: list[str], **env: str) -> int:
        port = self.ports[name] = free_port()
        argv = [a.replace("{port}", str(port)).replace("{base}", str(self.base)) for a in argv]
        log = (self.base / f"{name}.log").open("wb")
        proc = subprocess.Popen(argv, cwd=ROOT, env={**self.env, **env}, stdout=log, stderr=log)
        self.procs.append(proc)
        return port

    def close(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


@pytest.fixture
def system() -> Iterator[Processes]:
    with tempfile.TemporaryDirectory(prefix="cbtest-prometheus-") as base:
        processes = Processes(Path(base))
        worker = None
        try:
            processes.start(
                "exporter",
                [sys.executable, "-m", "shared.metrics_exporter", "--bind", "127.0.0.1:{port}"],
            )
            processes.start(
                "review",
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "--config",
                    "deploy/gunicorn.conf.py",
                    "--bind",
                    "127.0.0.1:{port}",
                    "services.review.app:create_app()",
                ],
            )
            worker_port = processes.ports["worker"] = free_port()
            worker = WorkerProcess(
                "services.org.worker",
                ["org"],
                "prom-org",
                concurrency=1,
                CB_WORKER_METRICS_PORT=str(worker_port),
                CB_METRICS_DIR=str(base) + "/metrics",
            ).start()
            yield processes
        finally:
            if worker is not None:
                worker.close()
            processes.close()


def prometheus_config(ports: dict[str, int]) -> dict[str, Any]:
    def job(name: str, port: int) -> dict[str, Any]:
        return {"job_name": name, "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}

    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            job("exporter", ports["exporter"]),
            job("web", ports["review"]),
            job("workers", ports["worker"]),
        ],
    }


def query(port: int, promql: str) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    answer = http_get(url)
    if answer is None:
        return []
    body = json.loads(answer)
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def value(port: int, promql: str) -> float | None:
    result = query(port, promql)
    return float(result[0]["value"][1]) if result else None


@pytest.fixture
def org_outbox() -> Iterator[Any]:
    engine = make_engine(load_settings("org").database_url)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM outbox WHERE sent_at IS NULL"))
    yield engine
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM outbox WHERE sent_at IS NULL"))
    engine.dispose()


def test_prometheus_reads_a_queue_depth_and_an_outbox_age(
    system: Processes, org_outbox: Any, redis_client: Any
) -> None:
    redis_client.delete("review.branch")
    celery = make_celery(load_settings("intake"))
    for _ in range(4):  # nobody consumes review.branch in this test
        celery.send_task("review.open_case", kwargs={}, queue="review.branch")
    with org_outbox.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO outbox (id, task_name, queue, payload, created_at)"
                " VALUES (gen_random_uuid(), 'notify.deliver', 'notify', '{}',"
                " now() - interval '120 seconds')"
            )
        )
    base = system.base
    config = base / "prometheus.yml"
    config.write_text(yaml.safe_dump(prometheus_config(system.ports)))
    port = system.start(
        "prometheus",
        [
            "prometheus",
            f"--config.file={config}",
            "--storage.tsdb.path={base}/tsdb",
            "--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
    )
    review = system.ports["review"]
    wait_for(lambda: http_get(f"http://127.0.0.1:{review}/healthz"), timeout=20)
    for _ in range(6):  # answered by either of its two gunicorn workers
        assert http_get(f"http://127.0.0.1:{review}/healthz")

    depth = 'cb_queue_messages{queue="review.branch",job="exporter"}'
    assert wait_for(lambda: value(port, depth) == 4, timeout=30)
    age = value(port, 'cb_outbox_oldest_unsent_age_seconds{service="org"}')
    assert age is not None and 120 <= age < 180
    assert value(port, 'cb_outbox_unsent{service="org"}') == 1
    healthz = 'sum(cb_http_requests_total{job="web",endpoint="/healthz",status="200"})'
    assert wait_for(lambda: (value(port, healthz) or 0) >= 6, timeout=15)
    assert wait_for(lambda: value(port, 'up{job="workers"}') == 1, timeout=15)
    assert value(port, "min(cb_exporter_source_up)") == 1
