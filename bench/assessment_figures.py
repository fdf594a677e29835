"""The assessment figures (考核) of the whole province by county, over a year of records.

    .venv/bin/python bench/assessment_figures.py [--count 1000000] [--repeats 7]

Creates its own database (dropped at the end), migrates it, and fills it on the PostgreSQL
side (generate_series): ``count`` social-training ledger records, each with the approved
application that posted it, 5 % more applications that were rejected, and ``count / 4``
learning accounts, spread over 10,000 acceptance points under the 92 sub-centres (one point
in a hundred directly under a city branch), dated over 2025 and a few days either side.
Then it times ``figures.figures`` for the provincial centre, grouped by county, for
2025-01-01..2025-12-31 (what GET /api/v1/assessment?by=county runs, without the HTTP
wrapping), ``repeats`` times after one warm-up, and prints p50/p90 and the row count.

``run(count, repeats)`` does all of it and returns the figures, for other scripts.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

from bench._support import percentile

PG = "postgresql://postgres@127.0.0.1:5432"
POINTS = 10_000
FIRST_DAY, LAST_DAY = date(2025, 1, 1), date(2025, 12, 31)
# Records are dated from 2024-12-20 over 380 days: most inside 2025, some either side.
SPAN_START, SPAN_DAYS = "2024-12-20 00:00+08", 380


def points(count: int = POINTS) -> list[tuple[int, str, str]]:
    """(n, code, path) of ``count`` acceptance points: round-robin over the sub-centres,
    every hundredth directly under a branch."""
    from services.org.tree import tree_specs

    specs = tree_specs()
    subs = [s.path for s in specs if s.code.startswith("S")]
    branches = [s.path for s in specs if s.code.startswith("B")]
    out = []
    for n in range(count):
        code = f"AP{n + 1:06d}"
        parent = branches[n % len(branches)] if n % 100 == 99 else subs[n % len(subs)]
        out.append((n, code, f"{parent}{code}/"))
    return out


FILL = [
    # learners and their accounts: count / 4, opened over the span
    """
    INSERT INTO learners (id, document_type, document_enc, document_hash, document_mask,
        name_enc, name_hash, name_mask, phone_enc, phone_hash, phone_mask, unit_code,
        unit_path, created_by, created_at)
    SELECT i, 'resident_id', '\\x00'::bytea, md5(i::text) || md5('d' || i),
        '3301**********000X', '\\x00'::bytea, md5('n' || i) || md5('m' || i), '学*',
        '\\x00'::bytea, md5('p' || i) || md5('q' || i),
        '139****0000', p.code, p.path, 1, %(start)s::timestamptz
    FROM generate_series(1, %(accounts)s) i JOIN bench_points p ON p.n = i %% %(points)s
    """,
    """
    INSERT INTO accounts (id, learner_id, number, status, unit_code, unit_path, opened_at,
        created_at)
    SELECT i, i, 'ZJ2025' || lpad(i::text, 8, '0'), 'open', p.code, p.path,
        %(start)s::timestamptz + (i::float8 / %(accounts)s) * %(span)s::interval,
        %(start)s::timestamptz + (i::float8 / %(accounts)s) * %(span)s::interval
    FROM generate_series(1, %(accounts)s) i JOIN bench_points p ON p.n = i %% %(points)s
    """,
    # applications: the first ``count`` approved (each posts one record), then 5 % rejected;
    # decided 10 minutes to 10 days after they were taken
    """
    INSERT INTO applications (id, kind, outcome_kind, status, learner_id, account_id,
        unit_code, unit_path, taken_by_id, taken_by, round, version, created_at, updated_at,
        final_at)
    SELECT md5('a' || i)::uuid, 'deposit', 'social_training',
        CASE WHEN i <= %(count)s THEN 'approved' ELSE 'rejected' END::application_status,
        1 + i %% %(accounts)s, 1 + i %% %(accounts)s, p.code, p.path, 1, 'bench', 1, 1,
        t, t + d, t + d
    FROM generate_series(1, %(applications)s) i
    JOIN bench_points p ON p.n = (i * 7) %% %(points)s
    CROSS JOIN LATERAL (SELECT
        %(start)s::timestamptz + ((i %% %(count)s)::float8 / %(count)s) * %(span)s::interval AS t,
        make_interval(secs => 600 + (i::bigint * 7919) %% 863400 + (i %% 1000) / 1000.0) AS d) x
    """,
    # Each entry's key first, with the entry's id (its number), as the ledger takes them
    # (services/intake/posting.py; generated rows, each key known to be new).
    """
    INSERT INTO ledger_keys (entry_id, entry_kind, application_id, posted_at)
    SELECT i, 'deposit', a.id, a.final_at
    FROM generate_series(1, %(count)s) i JOIN applications a ON a.id = md5('a' || i)::uuid
    """,
    """
    INSERT INTO ledger_entries (id, account_id, entry_kind, application_id, unit_path,
        outcome_kind, credits, hours, description, posted_at)
    SELECT i, a.account_id, 'deposit', a.id, a.unit_path, 'social_training', 0,
        ((i %% 96) + 1) * 0.5,
        '电工初级培训', a.final_at
    FROM generate_series(1, %(count)s) i JOIN applications a ON a.id = md5('a' || i)::uuid
    """,
    "SELECT setval(pg_get_serial_sequence('ledger_keys', 'entry_id'), %(count)s)",
    "SELECT setval(pg_get_serial_sequence('learners', 'id'), %(accounts)s)",
    "SELECT setval(pg_get_serial_sequence('accounts', 'id'), %(accounts)s)",
    "DROP TABLE bench_points",
]


def create() -> str:
    """A new, empty database; returns its SQLAlchemy URL."""
    name = f"bench_assessment_{os.getpid()}_{secrets.token_hex(2)}"
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def fill(url: str, count: int) -> None:
    """Migrate the database at ``url`` and fill it with ``count`` ledger records."""
    from shared.migrations import upgrade

    upgrade("intake", url)
    name = url.rsplit("/", 1)[1]
    params = {
        "count": count,
        "accounts": max(1, count // 4),
        "applications": count + count // 20,
        "points": POINTS,
        "start": SPAN_START,
        "span": f"{SPAN_DAYS} days",
    }
    with psycopg.connect(f"{PG}/{name}") as conn:
        conn.execute("CREATE TABLE bench_points (n int PRIMARY KEY, code text, path text)")
        with conn.cursor().copy("COPY bench_points (n, code, path) FROM STDIN") as copy:
            for row in points():
                copy.write_row(row)
        for statement in FILL:
            conn.execute(statement, params)  # type: ignore[arg-type]
    with psycopg.connect(f"{PG}/{name}", autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def teardown(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def measure(url: str, repeats: int) -> dict[str, Any]:
    """Time the provincial centre's figures by county for 2025, ``repeats`` times."""
    from services.intake.assessment import figures
    from shared.auth import Principal
    from shared.db import Database

    db = Database(url)
    province = Principal(1, "bench", "ZJ", "/ZJ/", "province", frozenset({"admin"}))
    weights = figures.parse_weights(figures.DEFAULT_WEIGHTS)
    seconds: list[float] = []
    rows: list[Any] = []
    for _ in range(repeats + 1):  # the first one warms the caches and is not counted
        with db.transaction() as session:
            start = time.perf_counter()
            report = figures.figures(
                session, province, None, FIRST_DAY, LAST_DAY, "county", weights
            )
            seconds.append(time.perf_counter() - start)
            rows = report.rows
    assert db.engine is not None
    db.engine.dispose()
    timed = seconds[1:]
    return {
        "rows": len(rows),
        "p50_s": statistics.median(timed),
        "p90_s": percentile(timed, 0.9),
        "seconds": timed,
    }


def run(count: int = 1_000_000, repeats: int = 7) -> dict[str, Any]:
    """Fill a throwaway database with ``count`` ledger records and time the figures."""
    started = time.perf_counter()
    url = create()
    try:
        fill(url, count)
        fill_s = time.perf_counter() - started
        return {"count": count, "fill_s": fill_s, **measure(url, repeats)}
    finally:
        teardown(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000, help="ledger records")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    report(run(args.count, args.repeats), args.repeats)


def report(result: dict[str, Any], repeats: int) -> None:
    print(
        f"{result['count']:,} ledger records, {result['count'] + result['count'] // 20:,}"
        f" applications, {result['count'] // 4:,} accounts, {POINTS:,} points"
        f" (filled in {result['fill_s']:.0f} s)"
    )
    print(
        f"province by county, {FIRST_DAY}..{LAST_DAY}: {result['rows']} rows;"
        f" p50 {result['p50_s']:.3f} s, p90 {result['p90_s']:.3f} s over {repeats} runs"
        " (target: p50 under 2 s)"
    )


if __name__ == "__main__":
    main()
