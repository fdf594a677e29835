"""The assessment (考核) of the whole province by county for a year over 10,000,000 ledger
records: the figures as the service computes them (the ledger's roll-ups) against the raw
SQL over the same rows (the ledger's entries counted), timed in the same run, and checked
to be the same figures.

    .venv/bin/python bench/assessment_scale.py [--count 10000000] [--repeats 7] [--keep]

The data, generated on the PostgreSQL side in chunks (generate_series; the roll-ups are kept
by the ledger's trigger as the entries go in): ``count`` ledger entries over 10,000 points
(as ``assessment_figures``) dated over 2025 and a few days either side, a tenth of them
deposits of approved applications (with 5 % more applications rejected, decided 10 minutes
to 10 days after they were taken) and the rest social-training records of bulk imports of
1,000 records each (one batch application per import, its records posted when it was
approved), and ``count / 20`` accounts (Shanghai's 110 million records over 5.5 million
accounts), opened over the same span.

Generating 10 million entries takes a while on a small machine: ``--keep`` keeps the
database (``bench_assessment_scale_<count>``) and uses it again when a run finds it whole;
``--drop`` removes a kept one. Without ``--keep`` the database is dropped at the end.

Ends with its figures one per line as ``name: value``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from bench._support import PG, percentile
from bench.assessment_figures import FILL, points

POINTS = 10_000
FIRST_DAY, LAST_DAY = date(2025, 1, 1), date(2025, 12, 31)
SPAN_START, SPAN_DAYS = "2024-12-20 00:00+08", 380
CHUNK = 1_000_000
RECORDS_PER_IMPORT = 1_000

# Learners and their accounts, opened over the span: as the 1,000,000-record bench makes them.
ACCOUNTS = FILL[:2]
# Deposits: applications lo..hi (approved up to ``deposits``, rejected after) and the
# approved ones' entries, posted when they were decided.
DEPOSITS = [
    """
    INSERT INTO applications (id, kind, outcome_kind, status, learner_id, account_id,
        unit_code, unit_path, taken_by_id, taken_by, round, version, created_at, updated_at,
        final_at)
    SELECT md5('a' || i)::uuid, 'deposit', 'social_training',
        CASE WHEN i <= %(deposits)s THEN 'approved' ELSE 'rejected' END::application_status,
        1 + i %% %(accounts)s, 1 + i %% %(accounts)s, p.code, p.path, 1, 'bench', 1, 1,
        t, t + d, t + d
    FROM generate_series(%(lo)s::int, %(hi)s::int) i
    JOIN bench_points p ON p.n = (i * 7) %% %(points)s
    CROSS JOIN LATERAL (SELECT
        %(start)s::timestamptz
            + ((i %% %(deposits)s)::float8 / %(deposits)s) * %(span)s::interval AS t,
        make_interval(secs => 600 + (i::bigint * 7919) %% 863400 + (i %% 1000) / 1000.0) AS d) x
    """,
    """
    INSERT INTO ledger_keys (entry_id, entry_kind, application_id, posted_at)
    SELECT i, 'deposit', a.id, a.final_at
    FROM generate_series(%(lo)s::int, least(%(hi)s::int, %(deposits)s::int)) i
    JOIN applications a ON a.id = md5('a' || i)::uuid
    """,
    """
    INSERT INTO ledger_entries (id, account_id, entry_kind, application_id, unit_path,
        outcome_kind, credits, hours, description, posted_at)
    SELECT i, a.account_id, 'deposit', a.id, a.unit_path, 'social_training', 0,
        ((i %% 96) + 1) * 0.5, '电工初级培训', a.final_at
    FROM generate_series(%(lo)s::int, least(%(hi)s::int, %(deposits)s::int)) i
    JOIN applications a ON a.id = md5('a' || i)::uuid
    """,
]
# Imports: one per 1,000 records, each with its approved batch application, at a point.
IMPORTS = [
    """
    INSERT INTO applications (id, kind, outcome_kind, status, unit_code, unit_path,
        taken_by_id, taken_by, round, version, created_at, updated_at, final_at)
    SELECT md5('i' || j)::uuid, 'import', 'social_training', 'approved', p.code, p.path, 1,
        'bench', 1, 1, t - d, t, t
    FROM generate_series(1, %(imports)s) j
    JOIN bench_points p ON p.n = (j * 13) %% %(points)s
    CROSS JOIN LATERAL (SELECT
        %(start)s::timestamptz + (j::float8 / %(imports)s) * %(span)s::interval AS t,
        make_interval(secs => 3600 + (j::bigint * 7919) %% 860000) AS d) x
    """,
    """
    INSERT INTO imports (id, unit_code, unit_path, uploaded_by_id, uploaded_by, file_sha256,
        filename, file_format, size, rows_total, chunk_size, status, rows_read, valid,
        invalid, duplicate, accounts_opened, hours_total, application_id, created_at,
        updated_at)
    SELECT a.id, a.unit_code, a.unit_path, 1, 'bench', md5('f' || j) || md5('g' || j),
        'records.csv', 'csv', 100000, %(per_import)s, 500, 'approved', %(per_import)s,
        %(per_import)s, 0, 0, 0, 0, a.id, a.created_at, a.final_at
    FROM generate_series(1, %(imports)s) j JOIN applications a ON a.id = md5('i' || j)::uuid
    """,
]
# Records lo..hi (k-th record in import (k - 1) / 1,000 + 1) and their entries, posted when
# their import was approved. Each entry's key row goes in first, with the entry's id (a
# deposit's is its number, a record's the deposits' count and its own), as the posting path
# writes them (services/intake/posting.py), in two statements here: generated rows, each key
# known to be new.
RECORDS = [
    """
    INSERT INTO import_records (id, import_id, row, learner_id, account_id, record_key,
        organiser, programme, hours, start_date, end_date, certificate_number, status)
    SELECT k, md5('i' || ((k - 1) / %(per_import)s + 1))::uuid,
        (k - 1) %% %(per_import)s + 2, 1 + k %% %(accounts)s, 1 + k %% %(accounts)s,
        md5('r' || k) || md5('s' || k), '社区学校', '插花', ((k %% 96) + 1) * 0.5,
        '2025-01-01', '2025-01-02', 'PX' || k, 'approved'
    FROM generate_series(%(lo)s::int, %(hi)s::int) k
    """,
    """
    INSERT INTO ledger_keys (entry_id, entry_kind, import_record_id, posted_at)
    SELECT %(deposits)s + r.id, 'import', r.id, a.final_at
    FROM import_records r JOIN imports i ON i.id = r.import_id
    JOIN applications a ON a.id = i.application_id
    WHERE r.id BETWEEN %(lo)s::int AND %(hi)s::int
    """,
    """
    INSERT INTO ledger_entries (id, account_id, entry_kind, import_record_id, unit_path,
        outcome_kind, credits, hours, description, posted_at)
    SELECT %(deposits)s + r.id, r.account_id, 'import', r.id, i.unit_path, 'social_training',
        0, r.hours, r.programme, a.final_at
    FROM import_records r JOIN imports i ON i.id = r.import_id
    JOIN applications a ON a.id = i.application_id
    WHERE r.id BETWEEN %(lo)s::int AND %(hi)s::int
    """,
]
SEQUENCES = [
    ("learners", "id"),
    ("accounts", "id"),
    ("import_records", "id"),
    ("ledger_keys", "entry_id"),
]


def database(count: int) -> str:
    return f"bench_assessment_scale_{count}"


def url_of(name: str) -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def filled(name: str, count: int) -> bool:
    """Whether database ``name`` exists and a fill of ``count`` entries ran to its end."""
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            return False
    with psycopg.connect(f"{PG}/{name}") as conn:
        found = conn.execute("SELECT to_regclass('bench_filled')").fetchone()
        if found is None or found[0] is None:
            return False
        row = conn.execute("SELECT count FROM bench_filled").fetchone()
        return row is not None and row[0] == count


def drop(name: str) -> None:
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def chunks(first: int, last: int) -> Iterator[tuple[int, int]]:
    for lo in range(first, last + 1, CHUNK):
        yield lo, min(last, lo + CHUNK - 1)


def fill(name: str, count: int) -> float:
    """A new database ``name``, migrated and filled with ``count`` entries; its seconds."""
    from shared.migrations import upgrade

    started = time.perf_counter()
    drop(name)
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    upgrade("intake", url_of(name))
    deposits = count // 10
    records = count - deposits
    params: dict[str, Any] = {
        "accounts": max(1, count // 20),
        "deposits": deposits,
        "imports": -(-records // RECORDS_PER_IMPORT),
        "per_import": RECORDS_PER_IMPORT,
        "points": POINTS,
        "start": SPAN_START,
        "span": f"{SPAN_DAYS} days",
    }
    with psycopg.connect(f"{PG}/{name}", autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")  # a benchmark's data: speed over safety
        conn.execute("CREATE TABLE bench_points (n int PRIMARY KEY, code text, path text)")
        with conn.cursor().copy("COPY bench_points (n, code, path) FROM STDIN") as copy:
            for row in points(POINTS):
                copy.write_row(row)
        for statement in ACCOUNTS + IMPORTS:
            conn.execute(statement, params)
        for lo, hi in chunks(1, deposits + deposits // 20):
            for statement in DEPOSITS:
                conn.execute(statement, {**params, "lo": lo, "hi": hi})
            print(f"  deposits {hi:,}", file=sys.stderr, flush=True)
        for lo, hi in chunks(1, records):
            for statement in RECORDS:
                conn.execute(statement, {**params, "lo": lo, "hi": hi})
            print(f"  records {hi:,}", file=sys.stderr, flush=True)
        for table, column in SEQUENCES:
            conn.execute(  # our own table names
                f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), max({column})) "  # noqa: S608
                f"FROM {table}"
            )
        conn.execute("DROP TABLE bench_points")
        conn.execute("VACUUM ANALYZE")
        seconds = time.perf_counter() - started
        conn.execute("CREATE TABLE bench_filled (count bigint, seconds float8)")
        conn.execute("INSERT INTO bench_filled VALUES (%s, %s)", (count, seconds))
    return seconds


def raw_ledger_query(scope: Any) -> Select[Any]:
    """The baseline: the deposits counted from the ledger's entries, as the assessment did
    before the roll-ups (every entry in the range read and grouped)."""
    from services.intake.assessment.figures import group_key
    from services.intake.models import OUTCOME_ENTRIES, LedgerEntry

    sub = (
        select(
            group_key(LedgerEntry.unit_path, scope.rank).label("g"),
            LedgerEntry.outcome_kind,
            LedgerEntry.hours,
        )
        .where(
            *scope.within(LedgerEntry.unit_path, LedgerEntry.posted_at),
            LedgerEntry.entry_kind.in_(OUTCOME_ENTRIES),
        )
        .subquery()
    )
    kind = sub.c.outcome_kind
    return select(sub.c.g, kind, func.count(), func.sum(sub.c.hours)).group_by(sub.c.g, kind)


@contextlib.contextmanager
def counting_raw() -> Iterator[None]:
    """The assessment with its ledger figures counted from the entries (the baseline)."""
    from services.intake.assessment import figures

    kept = figures._ledger_query
    figures._ledger_query = raw_ledger_query
    try:
        yield
    finally:
        figures._ledger_query = kept


def timed(call: Callable[[], Any], repeats: int) -> tuple[list[float], Any]:
    """``repeats`` timings of ``call`` after one warm-up run, and what it returned."""
    seconds, result = [], None
    for _ in range(repeats + 1):
        start = time.perf_counter()
        result = call()
        seconds.append(time.perf_counter() - start)
    return seconds[1:], result


def measure(name: str, repeats: int) -> dict[str, Any]:
    """Province by county for 2025: the service's figures, the raw baseline, and the parts
    of the service's (accounts, ledger, decisions) timed on their own."""
    from services.intake.assessment import figures
    from shared.auth import Principal
    from shared.db import Database

    db = Database(url_of(name))
    province = Principal(1, "bench", "ZJ", "/ZJ/", "province", frozenset({"admin"}))
    weights = figures.parse_weights(figures.DEFAULT_WEIGHTS)

    def report() -> Any:
        with db.transaction() as session:
            return figures.figures(session, province, None, FIRST_DAY, LAST_DAY, "county", weights)

    out: dict[str, Any] = {}
    # Alternated, so that both meet the same machine (the others' benchmarks come and go).
    rolled, raw = [], []
    got = want = None
    for _ in range(repeats):
        s, got = timed(report, 1)
        rolled += s
        with counting_raw():
            s, want = timed(report, 1)
        raw += s
    out["same_figures"] = [asdict(r) for r in got.rows] == [asdict(r) for r in want.rows]
    out["rows"] = len(got.rows)
    out["rolled"], out["raw"] = rolled, raw
    with db.transaction() as session:
        out["parts"] = parts(session, repeats)
        out["sizes"] = sizes(session)
    assert db.engine is not None
    db.engine.dispose()
    return out


def parts(session: Session, repeats: int) -> dict[str, float]:
    """p50 seconds of each query of the figures on its own."""
    from services.intake.assessment import figures

    scope = figures.Scope("/ZJ/", 2, *figures.utc_bounds(FIRST_DAY, LAST_DAY), FIRST_DAY, LAST_DAY)
    queries = {
        "accounts": figures._accounts_query(scope),
        "ledger_rollups": figures._ledger_query(scope),
        "ledger_raw": raw_ledger_query(scope),
        "decisions": figures._decisions_query(scope),
    }
    return {
        name: statistics.median(timed(lambda q=q: session.execute(q).all(), repeats)[0])
        for name, q in queries.items()
    }


# A batch of 10,000 records approved and 1,000 deposits posted one statement each, through
# the posting path as ``imports.batches.finish`` and ``decisions`` post them
# (``services.intake.posting``), into the filled ledger; each rolled back. The records (of the
# first import, rows after its own, pending) and the applications are made first, in the same
# transaction.
BATCH, SINGLES = 10_000, 1_000
POSTING_SETUP = [
    """
    INSERT INTO import_records (import_id, row, learner_id, account_id, record_key, organiser,
        programme, hours, start_date, end_date, certificate_number, status)
    SELECT md5('i1')::uuid, 100000 + k, 1, 1, md5('posting' || k) || md5('x' || k), '社区学校',
        '插花', 1.5, '2025-01-01', '2025-01-02', 'PT' || k, 'pending'
    FROM generate_series(1, :batch) k
    """,
    """
    INSERT INTO applications (id, kind, outcome_kind, status, account_id, unit_code, unit_path,
        taken_by_id, taken_by, round, version)
    SELECT md5('posting' || i)::uuid, 'deposit', 'other', 'approved', 1, 'AP000001',
        '/ZJ/B01/S001/AP000001/', 1, 'bench', 1, 1 FROM generate_series(1, :singles) i
    """,
]
POINT = "/ZJ/B01/S001/AP000001/"


def md5_uuid(text_: str) -> uuid.UUID:
    """PostgreSQL's ``md5(text_)::uuid``."""
    return uuid.UUID(hashlib.md5(text_.encode()).hexdigest())  # noqa: S324 (an id, not a secret)


def posting(name: str, rounds: int) -> dict[str, float]:
    """Seconds (medians over ``rounds``, alternated) to post a batch and single deposits with
    the roll-up trigger and with it disabled (the ledger as it was before the roll-ups)."""
    from shared.db import make_engine

    engine = make_engine(url_of(name))
    timings: dict[str, list[float]] = {}
    with engine.connect() as conn:
        for _ in range(rounds):
            for trigger in ("with", "without"):
                for what, seconds in _post_once(conn, trigger == "without").items():
                    timings.setdefault(f"{what}_{trigger}_rollups_s", []).append(seconds)
    engine.dispose()
    return {key: statistics.median(values) for key, values in timings.items()}


def _post_once(conn: Any, disabled: bool) -> dict[str, float]:
    from decimal import Decimal

    from sqlalchemy import text

    from services.intake import posting as path
    from services.intake.models import EntryKind

    session = Session(bind=conn)
    try:
        if disabled:
            session.execute(
                text("ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_roll_up")
            )
        for statement in POSTING_SETUP:
            session.execute(text(statement), {"batch": BATCH, "singles": SINGLES})
        start = time.perf_counter()
        posted = path.post_records(session, md5_uuid("i1"), POINT)
        batch = time.perf_counter() - start
        assert posted == BATCH, posted
        start = time.perf_counter()
        for i in range(1, SINGLES + 1):
            path.post(
                session,
                path.Posting(
                    account_id=1,
                    entry_kind=EntryKind.DEPOSIT,
                    application_id=md5_uuid(f"posting{i}"),
                    unit_path=POINT,
                    outcome_kind="other",
                    credits=Decimal(1),
                    hours=Decimal(2),
                    description="timed",
                ),
            )
        return {"batch": batch, "singles": time.perf_counter() - start}
    finally:
        session.rollback()
        session.close()


# Each table's heap (with TOAST) and indexes; a partitioned table as the sum of its
# partitions, and the ledger's partitions that hold rows each on their own too.
SIZES = """
WITH t AS (
  SELECT c.relname, coalesce(i.inhparent::regclass::text, c.relname) AS whole,
    pg_table_size(c.oid) AS heap, pg_indexes_size(c.oid) AS indexes,
    greatest(c.reltuples, 0)::bigint AS tuples
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
  WHERE n.nspname = 'public' AND c.relkind = 'r'
)
SELECT whole, sum(heap)::bigint, sum(indexes)::bigint, sum(tuples)::bigint FROM t
WHERE whole IN ('ledger_entries', 'ledger_keys', 'ledger_days', 'ledger_months', 'accounts',
                'learners', 'applications', 'import_records', 'imports')
GROUP BY whole
UNION ALL
SELECT relname, heap, indexes, tuples FROM t
WHERE whole = 'ledger_entries' AND relname <> whole AND tuples > 0
ORDER BY 1
"""


def sizes(session: Session) -> dict[str, tuple[int, int, int]]:
    """(table bytes, index bytes, rows) of the tables that grow with the records."""
    from sqlalchemy import text

    return {r[0]: (r[1], r[2], r[3]) for r in session.execute(text(SIZES))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000_000, help="ledger records")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the database, reuse it")
    parser.add_argument("--drop", action="store_true", help="drop a kept database and stop")
    args = parser.parse_args()
    name = database(args.count)
    if args.drop:
        drop(name)
        return
    fill_s = None
    try:
        if not (args.keep and filled(name, args.count)):
            fill_s = fill(name, args.count)
        result = measure(name, args.repeats)
        result["posting"] = posting(name, 3)
    finally:
        if not args.keep:
            drop(name)
    report(args.count, fill_s, result)


def report(count: int, fill_s: float | None, result: dict[str, Any]) -> None:
    rolled, raw = result["rolled"], result["raw"]
    filled_how = "reused a kept database" if fill_s is None else f"filled in {fill_s:.0f} s"
    print(f"{count:,} ledger records, {count // 20:,} accounts, {POINTS:,} points ({filled_how})")
    print(
        f"province by county, {FIRST_DAY}..{LAST_DAY}: {result['rows']} rows; roll-ups p50"
        f" {statistics.median(rolled):.3f} s (p90 {percentile(rolled, 0.9):.3f}), raw p50"
        f" {statistics.median(raw):.3f} s over {len(rolled)} runs each, alternated;"
        f" the same figures: {result['same_figures']}"
    )
    for name, seconds in result["parts"].items():
        print(f"  query {name}: p50 {seconds:.3f} s")
    for table, (heap, index, rows) in result["sizes"].items():
        print(
            f"  {table}: {rows:,} rows, table {heap / 2**20:,.0f} MiB,"
            f" indexes {index / 2**20:,.0f} MiB"
        )
    print(f"assessment_county_year_p50_s: {statistics.median(rolled):.3f}")
    print(f"raw_county_year_p50_s: {statistics.median(raw):.3f}")
    print(f"assessment_over_raw: {statistics.median(rolled) / statistics.median(raw):.3f}")
    print(f"same_figures_as_raw: {result['same_figures']}")
    for name, seconds in result["parts"].items():
        print(f"query_{name}_p50_s: {seconds:.3f}")
    post = result["posting"]
    for what, n in (("batch", BATCH), ("singles", SINGLES)):
        with_, without = post[f"{what}_with_rollups_s"], post[f"{what}_without_rollups_s"]
        print(f"posting_{what}_{n}_with_rollups_s: {with_:.3f}")
        print(f"posting_{what}_{n}_without_rollups_s: {without:.3f}")
        print(f"posting_{what}_with_over_without_rollups: {with_ / without:.3f}")


if __name__ == "__main__":
    main()
