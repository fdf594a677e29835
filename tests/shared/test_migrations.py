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


def test_intake_0004_seals_the_names_already_held_and_masks_them_in_versions() -> None:
    from sqlalchemy import create_engine, text

    from services.intake.context import worker_context

    name = f"cbt_mig_{secrets.token_hex(4)}_intake"
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    engine = create_engine(url)
    try:
        config = alembic_config("intake", url)
        command.upgrade(config, "0003")
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO learners (id, document_type, document_enc, document_hash, "
                "document_mask, name, phone_enc, phone_hash, phone_mask, unit_code, unit_path, "
                "created_by) VALUES (1, 'resident_id', '\\x00', 'd', 'm', '欧阳明华', '\\x00', "
                "'p', 'm', 'AP000001', '/ZJ/B01/S001/AP000001/', 1)"
            ))  # fmt: skip
        command.upgrade(config, "head")
        with engine.begin() as conn:
            enc, hashed, mask = conn.execute(
                text("SELECT name_enc, name_hash, name_mask FROM learners")
            ).one()
        cipher = worker_context().cipher
        assert cipher.decrypt(enc, "learner.name") == "欧阳明华" and mask == "欧**华"
        assert hashed == cipher.lookup_hash("name", "欧阳明华")
        command.downgrade(config, "0003")
        with engine.begin() as conn:
            assert conn.execute(text("SELECT name FROM learners")).scalar_one() == "欧阳明华"
    finally:
        engine.dispose()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_intake_0010_rolls_up_the_entries_already_posted_by_china_day_and_month() -> None:
    from sqlalchemy import create_engine, text

    name = f"cbt_mig_{secrets.token_hex(4)}_intake"
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    engine = create_engine(url)
    try:
        config = alembic_config("intake", url)
        command.upgrade(config, "0009")  # the revision before the roll-ups
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO learners (id, document_type, document_enc, document_hash, "
                "document_mask, name_enc, name_hash, name_mask, phone_enc, phone_hash, "
                "phone_mask, unit_code, unit_path, created_by) VALUES (1, 'resident_id', "
                "'\\x00', 'd', 'm', '\\x00', 'n', 'm', '\\x00', 'p', 'm', 'AP1', '/ZJ/AP1/', 1);"
                "INSERT INTO accounts (id, learner_id, status, unit_code, unit_path) VALUES "
                "(1, 1, 'open', 'AP1', '/ZJ/AP1/');"
                "INSERT INTO applications (id, kind, status, account_id, unit_code, unit_path, "
                "taken_by_id, taken_by, round, version) SELECT md5(i::text)::uuid, 'deposit', "
                "'approved', 1, 'AP1', '/ZJ/AP1/', 1, 'w', 1, 1 FROM generate_series(1, 4) i;"
                "INSERT INTO ledger_entries (account_id, entry_kind, application_id, unit_path, "
                "outcome_kind, credits, hours, description, posted_at) SELECT 1, 'deposit', "
                "md5(i::text)::uuid, '/ZJ/AP1/', 'other', i, 10 * i, 'before 0009', "
                "at::timestamptz "
                "FROM (VALUES (1, '2025-03-31 15:59:59.999999Z'), (2, '2025-03-31 16:00Z'), "
                "(3, '2025-04-01 03:00Z'), (4, '2025-03-01 00:00Z')) v(i, at)"
            )  # fmt: skip
        command.upgrade(config, "head")
        with engine.begin() as conn:
            days = conn.execute(text(
                "SELECT day::text, entries, hours::text, credits::text FROM ledger_days "
                "ORDER BY day"
            )).all()  # fmt: skip
            months = conn.execute(
                text("SELECT month::text, entries, hours::text FROM ledger_months ORDER BY 1")
            ).all()
        assert days == [
            ("2025-03-01", 1, "40.00", "4.00"),
            ("2025-03-31", 1, "10.00", "1.00"),
            ("2025-04-01", 2, "50.00", "5.00"),
        ]
        assert months == [("2025-03-01", 2, "50.00"), ("2025-04-01", 2, "50.00")]
    finally:
        engine.dispose()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
