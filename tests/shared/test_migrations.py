"""Each service's migrations build exactly what its models declare (``alembic check`` finds
nothing to add), and go down to nothing and up again."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator

import psycopg
import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, text

from shared.migrations import alembic_config
from shared.settings import SERVICES

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
def scratch_database() -> Iterator[Callable[[str], tuple[str, Engine]]]:
    """Makes an empty database of its own for a service's migrations: its URL and an engine
    on it; each is disposed of and dropped when the test ends."""
    made: list[tuple[str, Engine]] = []

    def make(service: str) -> tuple[str, Engine]:
        name = f"cbt_mig_{secrets.token_hex(4)}_{service}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        made.append((name, create_engine(url)))
        return url, made[-1][1]

    yield make
    for name, engine in made:
        engine.dispose()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_match_the_models_and_go_down_and_up(service: str, scratch_database) -> None:
    url, _ = scratch_database(service)
    config = alembic_config(service, url)
    command.upgrade(config, "head")
    command.check(config)  # raises if the models declare anything the migrations lack
    command.downgrade(config, "base")
    command.upgrade(config, "head")
    command.check(config)


def test_intake_0004_seals_the_names_already_held_and_masks_them_in_versions(
    scratch_database,
) -> None:
    from services.intake.context import worker_context

    url, engine = scratch_database("intake")
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


def test_intake_0010_rolls_up_the_entries_already_posted_by_china_day_and_month(
    scratch_database,
) -> None:
    url, engine = scratch_database("intake")
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


# A 0010 ledger: 6 deposits (applications 1..6) and 3 import records, over years and the
# default partition's times, with ids not from 1 (some rolled back) and a reservation and a
# certificate line naming entries.
LEDGER_0010 = """
INSERT INTO learners (id, document_type, document_enc, document_hash, document_mask, name_enc,
    name_hash, name_mask, phone_enc, phone_hash, phone_mask, unit_code, unit_path, created_by)
VALUES (1, 'resident_id', '\\x00', 'd', 'm', '\\x00', 'n', 'm', '\\x00', 'p', 'm', 'AP1',
    '/ZJ/AP1/', 1);
INSERT INTO accounts (id, learner_id, status, unit_code, unit_path)
VALUES (1, 1, 'open', 'AP1', '/ZJ/AP1/');
INSERT INTO applications (id, kind, status, account_id, unit_code, unit_path, taken_by_id,
    taken_by, round, version)
SELECT md5(i::text)::uuid, 'deposit', 'approved', 1, 'AP1', '/ZJ/AP1/', 1, 'w', 1, 1
FROM generate_series(1, 7) i;
INSERT INTO imports (id, unit_code, unit_path, uploaded_by_id, uploaded_by, file_sha256,
    filename, file_format, size, chunk_size, status, rows_read, valid, invalid, duplicate,
    accounts_opened, hours_total)
VALUES (md5('i')::uuid, 'AP1', '/ZJ/AP1/', 1, 'w', md5('f') || md5('g'), 'r.csv', 'csv', 1,
    500, 'approved', 3, 3, 0, 0, 0, 0);
INSERT INTO import_records (id, import_id, row, learner_id, account_id, record_key, organiser,
    programme, hours, start_date, end_date, certificate_number, status)
SELECT k, md5('i')::uuid, k + 1, 1, 1, md5('r' || k), 'o', 'p', 1.5, '2025-01-01',
    '2025-01-02', 'C' || k, 'approved' FROM generate_series(1, 3) k;
SELECT setval(pg_get_serial_sequence('ledger_entries', 'id'), 40);
INSERT INTO ledger_entries (account_id, entry_kind, application_id, unit_path, outcome_kind,
    credits, hours, description, posted_at)
SELECT 1, 'deposit', md5(i::text)::uuid, '/ZJ/AP1/', 'other', i, 10 * i, 'd' || i,
    at::timestamptz
FROM (VALUES (1, '2025-12-31 15:59:59.999999Z'), (2, '2025-12-31 16:00Z'),
    (3, '2009-06-01 00:00Z'), (4, '2036-02-01 00:00Z'), (5, '2010-01-01 00:00+08'),
    (6, '2024-02-29 12:00Z')) v(i, at);
INSERT INTO ledger_entries (account_id, entry_kind, application_id, unit_path, outcome_kind,
    credits, hours, description, posted_at, target_institution, target_programme, basis)
VALUES (1, 'conversion', md5('7')::uuid, '/ZJ/AP1/', 'conversion', 3, 0, 'c',
    '2025-06-01 00:00Z', 'U1', 'P1', '{"outcomes": [{"entry_id": 41}]}');
INSERT INTO ledger_entries (account_id, entry_kind, import_record_id, unit_path, outcome_kind,
    credits, hours, description, posted_at)
SELECT 1, 'import', k, '/ZJ/AP1/', 'social_training', 0, 1.5, 'p', '2025-03-01 00:00Z'
FROM generate_series(1, 3) k;
INSERT INTO conversion_reservations (ledger_entry_id, application_id, learner_id, status,
    credits, year_start, target_institution, target_programme, certificate)
VALUES (41, md5('7')::uuid, 1, 'consumed', 3, '2025-01-01', 'U1', 'P1', false);
INSERT INTO certificates (id, number, application_id, account_id, unit_path,
    issuing_unit_code, issuing_unit_path, status, status_index, kid, credential_enc,
    payload_enc, credential_sha256, issued_at)
VALUES (md5('c')::uuid, 'N1', md5('6')::uuid, 1, '/ZJ/AP1/', 'AP1', '/ZJ/AP1/', 'valid', 1,
    'k', '\\x00', '\\x00', 's', now());
INSERT INTO certificate_entries (certificate_id, ledger_entry_id)
VALUES (md5('c')::uuid, 42), (md5('c')::uuid, 47);
"""
HELD = {
    "entries": "SELECT id, entry_kind::text, application_id, import_record_id, credits, hours, "
    "description, posted_at, basis::text FROM ledger_entries ORDER BY id",
    "days": "SELECT * FROM ledger_days ORDER BY 1, 2, 3, 4",
    "months": "SELECT * FROM ledger_months ORDER BY 1, 2, 3, 4",
    "reservations": "SELECT id, ledger_entry_id, status::text FROM conversion_reservations",
    "lines": "SELECT certificate_id, ledger_entry_id FROM certificate_entries ORDER BY 2",
}


def test_intake_0011_partitions_the_ledger_by_year_and_back_keeping_every_entry(
    scratch_database,
) -> None:
    from sqlalchemy.exc import IntegrityError

    url, engine = scratch_database("intake")

    def held() -> dict[str, list[object]]:
        with engine.begin() as conn:
            return {k: list(conn.execute(text(query)).all()) for k, query in HELD.items()}

    config = alembic_config("intake", url)
    command.upgrade(config, "0010")
    with engine.begin() as conn:
        conn.exec_driver_sql(LEDGER_0010)
    before = held()
    assert len(before["entries"]) == 10 and before["entries"][0][0] == 41
    command.upgrade(config, "0011")
    assert held() == before
    with engine.begin() as conn:
        where = dict(
            conn.execute(text("SELECT id, tableoid::regclass::text FROM ledger_entries")).all()
        )
        keys = conn.execute(
            text(
                "SELECT entry_id, entry_kind::text, application_id, import_record_id, "
                "posted_at FROM ledger_keys ORDER BY 1"
            )
        ).all()
        # The next posting takes the id after the largest, and its key holds across years.
        posted = conn.execute(
            text(
                "WITH key AS (INSERT INTO ledger_keys (entry_kind, application_id, "
                "posted_at) VALUES ('reversal', md5('1')::uuid, now()) RETURNING *) "
                "INSERT INTO ledger_entries (id, account_id, entry_kind, application_id, "
                "unit_path, outcome_kind, credits, hours, description, posted_at) "
                "SELECT entry_id, 1, entry_kind, application_id, '/ZJ/AP1/', 'other', -1, "
                "-10, 'r', posted_at FROM key RETURNING id"
            )
        ).scalar_one()
    assert where[41] == "ledger_entries_2025" and where[42] == "ledger_entries_2026"
    assert where[43] == where[44] == "ledger_entries_default"
    assert where[45] == "ledger_entries_2010" and where[46] == "ledger_entries_2024"
    assert [k[0] for k in keys] == [e[0] for e in before["entries"]]
    assert [k[1:] for k in keys] == [(*e[1:4], e[7]) for e in before["entries"]]
    assert posted == 51
    once = pytest.raises(IntegrityError, match="uq_ledger_keys_application_entry")
    with once, engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO ledger_keys (entry_kind, application_id, posted_at) "
                "VALUES ('deposit', md5('1')::uuid, '2030-01-01Z')"
            )
        )
    after = held()
    command.downgrade(config, "0010")
    assert held() == after  # the reversal posted at 0011 kept too, and rolled up
    with engine.begin() as conn:
        assert conn.execute(text("SELECT to_regclass('ledger_keys')")).scalar() is None
        assert (
            conn.execute(
                text(
                    "INSERT INTO ledger_entries (account_id, entry_kind, import_record_id, "
                    "unit_path, outcome_kind, credits, hours, description) VALUES (1, "
                    "'import', 1, '/ZJ/AP1/', 's', 0, 1, 'again') ON CONFLICT DO NOTHING "
                    "RETURNING id"
                )
            ).scalar()
            is None
        )
        next_id = conn.execute(
            text("SELECT nextval(pg_get_serial_sequence('ledger_entries', 'id'))")
        ).scalar_one()
    assert next_id > 51  # after every id given out (the refused inserts took some too)
    command.upgrade(config, "head")
    assert held() == after
