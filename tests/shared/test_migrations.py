"""Each service's migrations build exactly what its models declare (``alembic check`` finds
nothing to add), and go down to nothing and up again."""

from __future__ import annotations

import secrets

import psycopg
import pytest
from alembic import command

from shared.migrations import alembic_config
from shared.settings import SERVICES

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_match_the_models_and_go_down_and_up(service: str) -> None:
    name = f"cbt_mig_{secrets.token_hex(4)}_{service}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        config = alembic_config(service, f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
        command.upgrade(config, "head")
        command.check(config)  # raises if the models declare anything the migrations lack
        command.downgrade(config, "base")
        command.upgrade(config, "head")
        command.check(config)
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
