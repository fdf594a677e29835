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
from pathlib import Path
from typing import Any

import pytest
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


# --- Kubernetes (deploy/k8s/) and KEDA (deploy/k8s/keda/) ---------------------------------


def manifests(directory: Path = K8S) -> list[dict[str, Any]]:
    """Every resource of the YAML files of ``directory`` (kustomization.yaml aside)."""
    docs = []
    for path in sorted(directory.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


def of_kind(kind: str, directory: Path = K8S) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in manifests(directory) if d["kind"] == kind}


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


@pytest.mark.parametrize("directory", [K8S, K8S / "keda"], ids=["k8s", "keda"])
def test_every_manifest_parses_and_the_kustomization_lists_them(directory: Path) -> None:
    files = {p.name for p in directory.glob("*.yaml")} - {"kustomization.yaml"}
    assert files
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(files)
    assert kustomization["namespace"] == "creditbank"
    for doc in manifests(directory):
        assert {"apiVersion", "kind", "metadata"} <= set(doc), doc
        name = doc["metadata"]["name"]
        if doc["kind"] == "Namespace":
            assert name == "creditbank"
            continue
        assert doc["metadata"]["namespace"] == "creditbank", name
        # Services are named as in compose (the window calls http://org:8001), the rest
        # creditbank-<the compose service>.
        if doc["kind"] != "Service":
            assert name.startswith("creditbank-"), name
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name), name


def test_selectors_match_the_pods_they_mean() -> None:
    deployments = of_kind("Deployment")
    pods = {n: d["spec"]["template"]["metadata"]["labels"] for n, d in deployments.items()}
    for name, deployment in deployments.items():
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= pods[name].items(), name
        assert name == "creditbank-" + selector["app.kubernetes.io/component"], name
        assert container(deployment)["name"] == selector["app.kubernetes.io/component"]
    for kind in ("Service", "PodDisruptionBudget"):
        for name, resource in of_kind(kind).items():
            spec = resource["spec"]
            selector = spec["selector"].get("matchLabels", spec["selector"])
            matched = [n for n, labels in pods.items() if selector.items() <= labels.items()]
            assert len(matched) == 1, f"{kind} {name} selects {matched}"


def test_what_the_pods_refer_to_is_there_or_named_in_the_config() -> None:
    config_maps = set(of_kind("ConfigMap"))
    claims = set(of_kind("PersistentVolumeClaim"))
    secrets_named = (K8S / "config.yaml").read_text()
    pods = [d["spec"]["template"]["spec"] for d in [*of_kind("Deployment").values()]]
    pods += [j["spec"]["template"]["spec"] for j in of_kind("Job").values()]
    for spec in pods:
        for volume in spec.get("volumes", []):
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims
            if "secret" in volume:
                assert f"secret generic {volume['secret']['secretName']} " in secrets_named
        for source in spec["containers"][0].get("envFrom", []):
            assert source["configMapRef"]["name"] in config_maps


def test_the_deployments_run_the_compose_commands() -> None:
    services = raw_compose()
    for name, deployment in of_kind("Deployment").items():
        service = name.removeprefix("creditbank-")
        assert container(deployment)["command"] == services[service]["command"], name
    assert (
        of_kind("Job")["creditbank-migrate"]["spec"]["template"]["spec"]["containers"][0]["command"]
        == services["migrate"]["command"]
    )


def test_every_queue_has_a_worker_deployment_without_prefetch_and_a_budget() -> None:
    deployments = of_kind("Deployment")
    budgets = of_kind("PodDisruptionBudget")
    workers = {n for n in deployments if n.startswith("creditbank-worker-")}
    assert workers == {k8s_name(queue) for queue in QUEUES}
    for queue in QUEUES:
        deployment = deployments[k8s_name(queue)]
        command = container(deployment)["command"]
        assert option(command, "-Q", "--queues") == queue
        assert "--disable-prefetch" in command, queue
        spec = deployment["spec"]["template"]["spec"]
        assert spec["terminationGracePeriodSeconds"] == GRACE_SECONDS, queue
        assert budgets[k8s_name(queue)]["spec"]["maxUnavailable"] == 1, queue
    assert set(budgets) == workers


def test_beat_is_one_and_never_two() -> None:
    beat = of_kind("Deployment")["creditbank-beat"]
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"]["type"] == "Recreate"


def test_every_queue_has_a_scaled_object_on_its_redis_list() -> None:
    scaled = of_kind("ScaledObject", K8S / "keda")
    assert set(scaled) == {k8s_name(queue) for queue in QUEUES}  # beat and relays: none
    deployments = of_kind("Deployment")
    for queue in QUEUES:
        spec = scaled[k8s_name(queue)]["spec"]
        assert spec["scaleTargetRef"]["name"] == k8s_name(queue)
        assert k8s_name(queue) in deployments
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"], queue
        (trigger,) = spec["triggers"]
        assert trigger["type"] == "redis"
        metadata = trigger["metadata"]
        assert metadata["listName"] == queue
        assert int(metadata["listLength"]) > 0
        assert int(metadata["activationListLength"]) >= 0
        assert metadata["databaseIndex"] == "0"  # CB_REDIS_URL's database
        # The address KEDA reads from the worker's environment is in the ConfigMap.
        config = of_kind("ConfigMap")["creditbank-config"]["data"]
        assert config[metadata["addressFromEnv"]] + "/0" == config["CB_REDIS_URL"].removeprefix(
            "redis://"
        )
