"""Test run set-up: its own PostgreSQL databases, its own Redis DB number, its own keys.

Done in ``pytest_configure`` (before any test module is imported) because service modules
read their settings from the environment; everything is dropped in ``pytest_unconfigure``.

Also the fixtures more than one test package needs, none of them autouse: the apps (one per
run), and ``clean_org``/``clean_intake`` to start from empty tables (each package's own
autouse "fresh" fixture stands on these). Service modules are imported inside the fixtures,
never at the top of this file, which is read before ``pytest_configure`` runs.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from flask import Flask

from shared.settings import SERVICES

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_HOST = "redis://127.0.0.1:6379"
RUN: dict[str, object] = {}


def _claim_redis_db() -> int:
    """A Redis DB number no other concurrent test run holds (a lock key in DB 0)."""
    r = redis.Redis.from_url(f"{REDIS_HOST}/0")
    for number in range(15, 0, -1):
        if r.set(f"cbtest:redis-db-lock:{number}", os.getpid(), nx=True, ex=4 * 3600):
            redis.Redis.from_url(f"{REDIS_HOST}/{number}").flushdb()
            return number
    raise RuntimeError("every Redis DB 1-15 is held by another test run")


def pytest_configure(config: pytest.Config) -> None:
    from shared import auth, pii, sealing
    from shared.migrations import upgrade

    run_id = f"cbt_{os.getpid()}_{secrets.token_hex(3)}"
    var_dir = Path(tempfile.mkdtemp(prefix=f"{run_id}_"))
    keys = var_dir / "keys"
    auth.generate_keypair(keys / "jwt_private.pem", keys / "jwt_public.pem")
    sealing.generate_keypair(keys / "notify_seal_private.pem", keys / "notify_seal_public.pem")
    pii.generate_keys(keys / "pii.json")
    from services.intake.certificates.keys import KeyRing
    from shared.db import utcnow

    KeyRing(keys / "certificates").generate(utcnow())
    redis_db = _claim_redis_db()
    env = {
        "CB_ENV": "test",
        "CB_VAR_DIR": str(var_dir),
        "CB_REDIS_URL": f"{REDIS_HOST}/{redis_db}",
        "CB_PASSWORD_TIME_COST": "1",
        "CB_PASSWORD_MEMORY_COST": "8192",
        "CB_RELAY_IDLE_WAIT": "0.2",
        # Tests check revocations the instant after they are made; the 1 s cache has its own.
        "CB_REVOCATION_CACHE_SECONDS": "0",
        "CB_LOG_LEVEL": "WARNING",
        # Workers started by tests serve no metrics page: the queues' ports (9810...) stay
        # free for a `make run` on this machine; a test that wants one names its own port.
        "CB_WORKER_METRICS_PORT": "0",
    }
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        for service in SERVICES:
            name = f"{run_id}_{service}"
            conn.execute(f'CREATE DATABASE "{name}"')
            env[f"CB_{service.upper()}_DATABASE_URL"] = (
                f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
            )
    os.environ.update(env)
    RUN.update(run_id=run_id, var_dir=var_dir, redis_db=redis_db, env=env)
    for service in SERVICES:
        upgrade(service, env[f"CB_{service.upper()}_DATABASE_URL"])


def pytest_unconfigure(config: pytest.Config) -> None:
    if not RUN:
        return
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        for service in SERVICES:
            conn.execute(f'DROP DATABASE IF EXISTS "{RUN["run_id"]}_{service}" WITH (FORCE)')
    number = RUN["redis_db"]
    redis.Redis.from_url(f"{REDIS_HOST}/{number}").flushdb()
    redis.Redis.from_url(f"{REDIS_HOST}/0").delete(f"cbtest:redis-db-lock:{number}")
    shutil.rmtree(str(RUN["var_dir"]), ignore_errors=True)


@pytest.fixture(scope="session")
def run_env() -> dict[str, str]:
    """The environment of this test run (database URLs, Redis URL, key directory)."""
    return dict(RUN["env"])  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def var_dir() -> Path:
    return RUN["var_dir"]  # type: ignore[return-value]


@pytest.fixture
def redis_client(run_env: dict[str, str]) -> redis.Redis:
    client = redis.Redis.from_url(run_env["CB_REDIS_URL"])
    yield client
    client.close()


@pytest.fixture(scope="session")
def org_app() -> Flask:
    from services.org.app import create_app

    return create_app()


@pytest.fixture(scope="session")
def intake_app() -> Flask:
    from services.intake.app import create_app

    return create_app()


@pytest.fixture
def clean_org(org_app: Flask, redis_client: redis.Redis) -> Iterator[None]:
    """Org's tables empty but for the real tree (point codes from AP000001), Redis empty."""
    from services.org.context import db
    from tests.factories import reset_org_tables

    reset_org_tables()
    redis_client.flushdb()
    yield
    db.remove()


@pytest.fixture
def clean_intake(intake_app: Flask, redis_client: redis.Redis) -> Iterator[None]:
    """Intake's tables empty, Redis empty."""
    from services.intake.context import db
    from tests.factories import reset_intake_tables

    reset_intake_tables()
    redis_client.flushdb()
    yield
    db.remove()
