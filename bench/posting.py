"""Posting to the ledger before and after its partitioning (migration 0011), in one run: an
approved import batch of 10,000 records and 1,000 single deposits, each posted once, into a
ledger already holding ``--entries`` entries dated over 2025.

    .venv/bin/python bench/posting.py [--entries 1000000] [--rounds 5]

Two throwaway databases: one migrated to 0010 (one table, its unique keys), posted to with
the statements the 0010 code built (``INSERT ... ON CONFLICT DO NOTHING`` on the table,
from a table reflected from that database, as the ORM model was); one migrated to head,
posted to through ``services/intake/posting.py`` (key and entry in one statement). The
rounds alternate between the two, each rolled back. Ends with its figures one per line as
``name: value``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from sqlalchemy import Engine, MetaData, Table, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from bench._support import PG

BATCH, SINGLES = 10_000, 1_000
POINT = "/ZJ/B01/S001/AP000001/"
IMPORT_ID = uuid.UUID(int=1)
SETUP = """
INSERT INTO learners (id, document_type, document_enc, document_hash, document_mask, name_enc,
    name_hash, name_mask, phone_enc, phone_hash, phone_mask, unit_code, unit_path, created_by)
VALUES (1, 'resident_id', '\\x00', 'd', 'm', '\\x00', 'n', 'm', '\\x00', 'p', 'm', 'AP000001',
    '/ZJ/B01/S001/AP000001/', 1);
INSERT INTO accounts (id, learner_id, status, unit_code, unit_path)
VALUES (1, 1, 'open', 'AP000001', '/ZJ/B01/S001/AP000001/');
INSERT INTO applications (id, kind, outcome_kind, status, account_id, unit_code, unit_path,
    taken_by_id, taken_by, round, version)
SELECT md5('a' || i)::uuid, 'deposit', 'other', 'approved', 1, 'AP000001',
    '/ZJ/B01/S001/AP000001/', 1, 'bench', 1, 1 FROM generate_series(1, %(total)s) i;
INSERT INTO imports (id, unit_code, unit_path, uploaded_by_id, uploaded_by, file_sha256,
    filename, file_format, size, chunk_size, status, rows_read, valid, invalid, duplicate,
    accounts_opened, hours_total)
VALUES ('00000000-0000-0000-0000-000000000001', 'AP000001', '/ZJ/B01/S001/AP000001/', 1, 'b',
    md5('f') || md5('g'), 'r.csv', 'csv', 1, 500, 'in_review', 0, 0, 0, 0, 0, 0);
"""
# The entries already posted: applications 1..entries, over 2025 (the singles post the next).
FILLED_0010 = """
INSERT INTO ledger_entries (id, account_id, entry_kind, application_id, unit_path,
    outcome_kind, credits, hours, description, posted_at)
SELECT i, 1, 'deposit', md5('a' || i)::uuid, '/ZJ/B01/S001/AP000001/', 'other', 1, 2, 'filled',
    '2025-01-01 00:00+08'::timestamptz + (i::float8 / %(entries)s) * interval '365 days'
FROM generate_series(1, %(entries)s) i;
SELECT setval(pg_get_serial_sequence('ledger_entries', 'id'), %(entries)s);
"""
FILLED_0011 = """
INSERT INTO ledger_keys (entry_id, entry_kind, application_id, posted_at)
SELECT i, 'deposit', md5('a' || i)::uuid,
    '2025-01-01 00:00+08'::timestamptz + (i::float8 / %(entries)s) * interval '365 days'
FROM generate_series(1, %(entries)s) i;
INSERT INTO ledger_entries (id, account_id, entry_kind, application_id, unit_path,
    outcome_kind, credits, hours, description, posted_at)
SELECT entry_id, 1, 'deposit', application_id, '/ZJ/B01/S001/AP000001/', 'other', 1, 2,
    'filled', posted_at FROM ledger_keys;
SELECT setval(pg_get_serial_sequence('ledger_keys', 'entry_id'), %(entries)s);
"""
RECORDS = """
INSERT INTO import_records (import_id, row, learner_id, account_id, record_key, organiser,
    programme, hours, start_date, end_date, certificate_number, status)
SELECT '00000000-0000-0000-0000-000000000001', k + 1, 1, 1, md5('r' || k), '社区学校', '插花',
    1.5, '2025-01-01', '2025-01-02', 'PT' || k, 'pending' FROM generate_series(1, :batch) k
"""
# What imports.batches.finish posted at 0010.
BATCH_0010 = """
INSERT INTO ledger_entries (account_id, entry_kind, import_record_id, unit_path, outcome_kind,
    credits, hours, description)
SELECT r.account_id, 'import', r.id, :path, 'social_training', 0, r.hours, r.programme
FROM import_records r WHERE r.import_id = :import_id AND r.status = 'pending'
ON CONFLICT (import_record_id) DO NOTHING
"""


def make(revision: str, entries: int) -> str:
    from alembic import command

    from shared.migrations import alembic_config

    name = f"bench_posting_{revision}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    command.upgrade(alembic_config("intake", url), revision)
    params = {"entries": entries, "total": entries + SINGLES}
    with psycopg.connect(f"{PG}/{name}", autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        for statement in (SETUP + (FILLED_0010 if revision == "0010" else FILLED_0011)).split(
            ";\n"
        ):
            if statement.strip():
                conn.execute(statement, params)
        conn.execute("VACUUM ANALYZE")
    return url


def drop(url: str) -> None:
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def deposit(i: int) -> dict[str, Any]:
    return {
        "account_id": 1,
        "entry_kind": "deposit",
        "application_id": uuid.UUID(hex=_md5(f"a{i}")),
        "unit_path": POINT,
        "outcome_kind": "other",
        "credits": Decimal(1),
        "hours": Decimal(2),
        "description": "timed",
    }


def _md5(value: str) -> str:
    import hashlib

    return hashlib.md5(value.encode()).hexdigest()  # noqa: S324 (an id, not a secret)


def round_0010(engine: Engine, entries: int) -> dict[str, float]:
    table = Table("ledger_entries", MetaData(), autoload_with=engine)

    def single(session: Session, i: int) -> None:
        session.execute(
            pg_insert(table)
            .values(**deposit(i))
            .on_conflict_do_nothing(constraint="uq_ledger_application_entry")
        )

    def batch(session: Session) -> int:
        found = session.execute(text(BATCH_0010), {"path": POINT, "import_id": IMPORT_ID})
        return int(found.rowcount)  # type: ignore[attr-defined]

    return _timed(engine, entries, single, batch)


def round_0011(engine: Engine, entries: int) -> dict[str, float]:
    from services.intake import posting
    from services.intake.models import EntryKind

    def single(session: Session, i: int) -> None:
        values = {**deposit(i), "entry_kind": EntryKind.DEPOSIT}
        posting.post(session, posting.Posting(**values))

    def batch(session: Session) -> int:
        return posting.post_records(session, IMPORT_ID, POINT)

    return _timed(engine, entries, single, batch)


def _timed(engine: Engine, entries: int, single: Any, batch: Any) -> dict[str, float]:
    with Session(engine) as session:
        session.execute(text(RECORDS), {"batch": BATCH})
        start = time.perf_counter()
        posted = batch(session)
        batch_s = time.perf_counter() - start
        assert posted == BATCH, posted
        start = time.perf_counter()
        for i in range(entries + 1, entries + SINGLES + 1):
            single(session, i)
        singles_s = time.perf_counter() - start
        again = time.perf_counter()
        single(session, entries + 1)  # posted already: nothing
        assert batch(session) == 0
        again_s = time.perf_counter() - again
        session.rollback()
    return {"batch": batch_s, "single_ms": singles_s / SINGLES * 1000, "again": again_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from shared.db import make_engine

    urls = {revision: make(revision, args.entries) for revision in ("0010", "head")}
    engines = {revision: make_engine(url) for revision, url in urls.items()}
    got: dict[str, list[dict[str, float]]] = {"0010": [], "head": []}
    try:
        for _ in range(args.rounds):
            got["0010"].append(round_0010(engines["0010"], args.entries))
            got["head"].append(round_0011(engines["head"], args.entries))
    finally:
        for engine in engines.values():
            engine.dispose()
        for url in urls.values():
            drop(url)
    print(f"ledger of {args.entries:,} entries; medians over {args.rounds} rounds, alternated")
    for revision, label in (("0010", "unpartitioned"), ("head", "partitioned")):
        for what in ("batch", "single_ms"):
            value = statistics.median(r[what] for r in got[revision])
            unit = "ms" if what == "single_ms" else "s"
            name = "batch_10000" if what == "batch" else "single"
            print(f"posting_{name}_{label}_{unit}: {value:.3f}")
    for what in ("batch", "single_ms"):
        ratio = statistics.median(r[what] for r in got["head"]) / statistics.median(
            r[what] for r in got["0010"]
        )
        print(f"posting_{what.removesuffix('_ms')}_partitioned_over_unpartitioned: {ratio:.3f}")


if __name__ == "__main__":
    main()
