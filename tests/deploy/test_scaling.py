"""Scaling in assessment season: every queue's workers are scaled on their own, everywhere.

Compose reads each worker's number of containers from ``CB_SCALE_<QUEUE>`` (so a plain
``docker compose up`` keeps it), the Procfile, compose and Kubernetes start every worker with
prefetch disabled (a queue's length in Redis is then what waits, which is what KEDA reads),
deploy/k8s/ has a Deployment and deploy/k8s/keda/ a ScaledObject per queue, and
docs/operations.md, the runbook, names every alert of deploy/prometheus/alerts.yml.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from shared.queues import QUEUES
from shared.settings import Settings
from tests.deploy.test_compose import (
    COMPOSE_FILE,
    compose,
    needs_compose,
    option,
    procfile,
    worker_service,
)
from tests.helpers import ROOT

K8S = ROOT / "deploy" / "k8s"
RUNBOOK = ROOT / "docs" / "operations.md"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
# Longer than a task's hard time limit, so that a warm shutdown finishes the running task.
GRACE_SECONDS = 330


def scale_variable(queue: str) -> str:
    """``review.acceptance_point`` is scaled by ``CB_SCALE_REVIEW_ACCEPTANCE_POINT``."""
    return "CB_SCALE_" + queue.upper().replace(".", "_")


def k8s_name(queue: str) -> str:
    """The Kubernetes name of a queue's worker: the compose service's, under ``creditbank-``."""
    return "creditbank-" + worker_service(queue)


def is_worker(argv: list[str]) -> bool:
    return len(argv) > 3 and argv[0] == "celery" and "worker" in argv


def raw_compose() -> dict[str, Any]:
    """docker-compose.yml as written, before the client interpolates it."""
    data: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return data["services"]


def seconds(duration: str) -> int:
    """A compose duration (``5m30s``, ``330s``) in seconds."""
    parts = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", duration)
    assert parts and duration, duration
    return int(parts.group(1) or 0) * 60 + int(parts.group(2) or 0)


def test_the_grace_period_outlasts_a_task() -> None:
    assert Settings().task_time_limit < GRACE_SECONDS


def test_every_compose_worker_reads_its_scale_from_its_variable() -> None:
    services = raw_compose()
    workers = {name for name in services if name.startswith("worker-")}
    assert workers == {worker_service(queue) for queue in QUEUES}
    for queue in QUEUES:
        assert services[worker_service(queue)]["scale"] == f"${{{scale_variable(queue)}:-1}}"


@needs_compose
def test_compose_renders_one_container_each_unless_told_otherwise() -> None:
    out = compose("config", "--format", "json")
    assert out.returncode == 0, out.stderr
    services = json.loads(out.stdout)["services"]
    for queue in QUEUES:
        service = services[worker_service(queue)]
        assert service["scale"] == 1, queue
        assert seconds(service["stop_grace_period"]) == GRACE_SECONDS, queue


@needs_compose
def test_a_level_is_scaled_by_its_variable_alone() -> None:
    out = compose("config", "--format", "json", variables={"CB_SCALE_REVIEW_SUBCENTRE": "3"})
    assert out.returncode == 0, out.stderr
    services = json.loads(out.stdout)["services"]
    assert services["worker-review-subcentre"]["scale"] == 3
    others = {worker_service(q) for q in QUEUES} - {"worker-review-subcentre"}
    assert {services[name]["scale"] for name in others} == {1}


def test_every_queue_has_a_worker_in_the_procfile_started_without_prefetch() -> None:
    workers = {
        option(argv, "-Q", "--queues"): argv for argv in procfile().values() if is_worker(argv)
    }
    assert set(workers) == set(QUEUES)
    for queue, argv in workers.items():
        assert "--disable-prefetch" in argv, queue


def test_every_compose_worker_starts_without_prefetch() -> None:
    services = raw_compose()
    for queue in QUEUES:
        command = services[worker_service(queue)]["command"]
        assert option(command, "-Q", "--queues") == queue
        assert "--disable-prefetch" in command, queue


def test_the_runbook_names_every_alert() -> None:
    rules = yaml.safe_load(ALERTS.read_text())["groups"]
    alerts = {rule["alert"] for group in rules for rule in group["rules"] if "alert" in rule}
    assert alerts
    runbook = RUNBOOK.read_text()
    missing = sorted(alert for alert in alerts if f"`{alert}`" not in runbook)
    assert not missing, f"docs/operations.md says nothing of {missing}"


def test_the_runbook_names_every_scale_variable() -> None:
    runbook = RUNBOOK.read_text()
    for queue in QUEUES:
        assert scale_variable(queue) in runbook, queue
