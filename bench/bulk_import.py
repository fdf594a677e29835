"""Bulk import, end to end, beside PostgreSQL COPY of the same rows; and the province-wide
assessment by county over 1,000,000 records.

    .venv/bin/python bench/bulk_import.py [--rows 100000] [--rounds 3] [--records 1000000]

Each round: one file of ``--rows`` social-training records (about 2% invalid, 1% repeated)
is sent to ``POST /api/v1/imports`` (through the app's WSGI entry point) and read by a real
``intake.imports`` worker (2 processes) through the real outbox relay on real Redis, until
the import is "ready for review" (its batch taken). In the same round, the same file is
COPYed into a table of ten text columns: the floor no import can beat. Figures are medians
over the rounds, and the ratio of the two rates. The second part times the assessment
(``bench/assessment_figures.py``) over ``--records`` generated records.

The bulk part ends with its headline figures, one per line (``name: value``): the import's,
the COPY of what it stored (without and with the tables' foreign keys, which ``CREATE TABLE
... (LIKE ... INCLUDING ALL)`` leaves out) and the COPY of the file in rows per second
(medians), and the import's rate over each COPY's (``import_over_copy_of_stored``,
``import_over_copy_of_stored_with_foreign_keys``, ``import_over_copy_of_file``).
"""

from __future__ import annotations

import argparse
import csv
import io
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._support import Env, Processes, exit_on_sigterm, print_log_tails

HEADERS = ["姓名", "证件类型", "证件号码", "手机号码", "培训机构", "培训项目",
           "开始日期", "结束日期", "学时", "证书编号"]  # fmt: skip
INTAKE_TABLES = (
    "ledger_days, ledger_months, ledger_entries, ledger_keys, import_records, import_issues, "
    "import_chunks, "
    "imports, application_events, application_versions, applications, accounts, learners, outbox"
)


def resident_id(serial: int) -> str:
    from shared.identity import check_character

    day = 1 + serial // 1000
    birth = f"19{70 + day // 336 % 30:02d}{1 + day // 28 % 12:02d}{1 + day % 28:02d}"
    first17 = f"330102{birth}{serial % 1000:03d}"
    return first17 + check_character(first17)


def make_file(rows: int) -> bytes:
    """``rows`` records of distinct learners; every 50th row invalid, every 100th a repeat."""
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(HEADERS)
    previous: list[str] = []
    for i in range(rows):
        if i and i % 100 == 0:
            writer.writerow(previous)
            continue
        row = [
            "张三" if i % 2 else "李四",
            "居民身份证",
            resident_id(i),
            f"139{i:08d}",
            "杭州市职业技能培训中心",
            f"电工初级培训第{i % 40}期",
            "2026-03-01",
            "2026-03-20",
            str(8 * (1 + i % 6)),
            f"PX{i:08d}",
        ]
        if i % 50 == 25:
            row[8] = "abc"  # not a number of hours
        writer.writerow(row)
        previous = row
    return out.getvalue().encode("utf-8")


def setup(env: Env) -> None:
    """The intake database migrated, a Redis DB, keys."""
    from shared.migrations import upgrade

    env.create()
    upgrade("intake", env.url("intake"))


def start_processes(procs: Processes) -> None:
    """The import worker (2 processes, as in the Procfile) and intake's outbox relay."""
    procs.start(
        "worker-imports",
        [
            sys.executable, "-m", "celery", "-A", "services.intake.worker", "worker",
            "-Q", "intake.imports", "-n", "bench-imports@%h", "--concurrency", "2",
            "--loglevel", "WARNING", "--without-mingle", "--without-gossip",
        ],
    )  # fmt: skip
    procs.relay("intake")


def copy_rate(url: str, data: bytes) -> float:
    """Seconds to COPY the file's rows into a fresh table of ten text columns."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS copy_baseline")
        columns = ", ".join(f"c{i} text" for i in range(len(HEADERS)))
        conn.execute(f"CREATE TABLE copy_baseline ({columns})")
        start = time.perf_counter()
        with conn.cursor().copy("COPY copy_baseline FROM STDIN WITH (FORMAT csv, HEADER)") as cp:
            cp.write(data)
        elapsed = time.perf_counter() - start
        conn.execute("DROP TABLE copy_baseline")
    return elapsed


STORED = ("learners", "accounts", "import_records")


# Each stored table's foreign keys, as PostgreSQL writes them back (pg_get_constraintdef).
FOREIGN_KEYS = """
SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
WHERE contype = 'f' AND conrelid = %s::regclass ORDER BY conname
"""


def stored_copy_time(url: str, foreign_keys: bool = False) -> tuple[float, int]:
    """Seconds to COPY what the import stored (its learners, accounts and records, as they
    are in the tables) into empty tables of the same shape, indexes included: COPY doing
    the import's writing alone, with nothing to check, encrypt or look up. With
    ``foreign_keys`` the copies have the tables' foreign keys too (to each other's copies,
    and to the tables not copied, such as ``imports``): each row then checks its references,
    as every row the import writes does."""
    with psycopg.connect(url, autocommit=True) as conn:
        dumps = {}
        for table in STORED:
            with conn.cursor().copy(f"COPY {table} TO STDOUT") as out:
                dumps[table] = b"".join(bytes(block) for block in out)
            conn.execute(f"DROP TABLE IF EXISTS copy_{table} CASCADE")
            conn.execute(f"CREATE TABLE copy_{table} (LIKE {table} INCLUDING ALL)")
        for table in STORED if foreign_keys else ():
            for name, definition in conn.execute(FOREIGN_KEYS, (table,)).fetchall():
                for copied in STORED:  # a reference to a copied table goes to its copy
                    definition = definition.replace(
                        f"REFERENCES {copied}(", f"REFERENCES copy_{copied}("
                    )
                conn.execute(f"ALTER TABLE copy_{table} ADD CONSTRAINT copy_{name} {definition}")
                print(f"  baseline with foreign keys: copy_{table} {definition}")
        rows = conn.execute("SELECT count(*) FROM import_records").fetchone()[0]
        start = time.perf_counter()
        with conn.transaction():
            for table in STORED:
                with conn.cursor().copy(f"COPY copy_{table} FROM STDIN") as cp:
                    cp.write(dumps[table])
        elapsed = time.perf_counter() - start
        for table in reversed(STORED):
            conn.execute(f"DROP TABLE copy_{table} CASCADE")
    return elapsed, rows


def import_once(client: Any, headers: dict[str, str], data: bytes) -> tuple[float, dict]:
    """Seconds from sending the file to the import being ready for review; and its figures."""
    start = time.perf_counter()
    r = client.post(
        "/api/v1/imports",
        headers=headers,
        data={"file": (io.BytesIO(data), "records.csv")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 202, r.json
    accepted = time.perf_counter() - start
    url = f"/api/v1/imports/{r.json['id']}"
    prepared = None
    while True:
        got = client.get(url, headers=headers).json
        if prepared is None and got["status"] != "received":
            prepared = time.perf_counter() - start
        if got["status"] in ("in_review", "no_records"):
            got["phases"] = f"answered in {accepted:.2f} s, chunks queued at {prepared:.2f} s"
            return time.perf_counter() - start, got
        if time.perf_counter() - start > 900:
            raise SystemExit(f"import not ready after 900 s: {got}")
        time.sleep(0.05)


def bulk(rows: int, rounds: int) -> dict[str, str]:
    """The rounds, printed as they go; the headline figures (medians) returned."""
    from services.intake.app import create_app
    from shared.auth import Principal, TokenIssuer
    from shared.settings import load_settings

    env = Env("bench_import", ("intake",))
    procs = Processes(env)
    failed = True
    try:
        setup(env)
        start_processes(procs)
        settings = load_settings("intake")
        private = settings.key_file("", "jwt_private.pem").read_bytes()
        principal = Principal(
            7, "bench-window", "AP000001", "/ZJ/B01/S001/AP000001/", "acceptance_point",
            frozenset({"service"}), "OPERATING",
        )  # fmt: skip
        token = TokenIssuer(private, "creditbank-org", "creditbank", 3600).issue(principal)
        headers = {"Authorization": f"Bearer {token}"}
        app = create_app()
        client = app.test_client()
        data = make_file(rows)
        url = env.dsn("intake")
        print(f"file: {rows:,} rows, {len(data) / 1e6:.1f} MB (CSV, UTF-8)")
        imported, copied, stored, with_keys = [], [], [], []
        for n in range(rounds):
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f"TRUNCATE {INTAKE_TABLES} RESTART IDENTITY CASCADE")
            copied.append(copy_rate(url, data))
            with app.app_context():
                seconds, got = import_once(client, headers, data)
            imported.append(seconds)
            stored_seconds, records = stored_copy_time(url)
            stored.append(stored_seconds)
            with_keys.append(stored_copy_time(url, foreign_keys=True)[0])
            print(
                f"round {n + 1}: import {seconds:.2f} s ({rows / seconds:,.0f} rows/s; "
                f"{got['valid']:,} valid, {got['invalid']:,} invalid, "
                f"{got['duplicate']:,} duplicate, {got['accounts_opened']:,} accounts opened; "
                f"{got['phases']}); "
                f"COPY of the file {copied[-1]:.2f} s ({rows / copied[-1]:,.0f} rows/s); "
                f"COPY of what it stored ({records:,} records with their learners and "
                f"accounts) {stored_seconds:.2f} s ({rows / stored_seconds:,.0f} rows/s), "
                f"with their foreign keys {with_keys[-1]:.2f} s"
            )
        import_rate = rows / statistics.median(imported)
        file_rate = rows / statistics.median(copied)
        stored_rate = rows / statistics.median(stored)
        keyed_rate = rows / statistics.median(with_keys)
        print(
            f"median over {rounds} round(s): import {import_rate:,.0f} rows/s; "
            f"COPY of the file {file_rate:,.0f} rows/s (the import at "
            f"{100 * import_rate / file_rate:.1f}%); COPY of what it stored "
            f"{stored_rate:,.0f} rows/s (the import at {100 * import_rate / stored_rate:.1f}%); "
            "expected: at least 10% of COPY"
        )
        failed = False
        return {
            "import_rows_per_s": f"{import_rate:.0f}",
            "copy_of_stored_rows_per_s": f"{stored_rate:.0f}",
            "copy_of_file_rows_per_s": f"{file_rate:.0f}",
            "copy_of_stored_with_foreign_keys_rows_per_s": f"{keyed_rate:.0f}",
            "import_over_copy_of_stored": f"{import_rate / stored_rate:.3f}",
            "import_over_copy_of_stored_with_foreign_keys": f"{import_rate / keyed_rate:.3f}",
            "import_over_copy_of_file": f"{import_rate / file_rate:.4f}",
        }
    finally:
        if failed:
            print_log_tails(env)
        procs.stop_all()
        env.remove()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--skip-assessment", action="store_true")
    args = parser.parse_args()
    exit_on_sigterm()
    headline = bulk(args.rows, args.rounds)
    if not args.skip_assessment:
        import assessment_figures

        assessment_figures.report(assessment_figures.run(args.records, args.repeats), args.repeats)
    for name, value in headline.items():  # last, one per line, for a script to read
        print(f"{name}: {value}")


if __name__ == "__main__":
    main()
