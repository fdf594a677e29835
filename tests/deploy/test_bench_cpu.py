"""The benchmarks' CPU accounting (bench/_support.py): /proc's stat lines read right, the
ledger of sampled processes, and PostgreSQL's CPU counted for some databases only, on the
real server: a backend of the run's database named by its application, one of another
database not looked at. bench/review_flow.py's reading of the level workers' log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg

from bench._support import CLOCK_TICKS, PG_SHARED, CpuLedger, PgCpu, parse_stat, read_stat
from bench.review_flow import committed_at, pg_label

PG = "postgresql://postgres@127.0.0.1:5432"
# Enough work for a backend to use some CPU (a few hundred ms on this machine).
BUSY_SQL = "SELECT count(*) FROM generate_series(1, 3000000) AS g WHERE g % 7 = 3"


def test_a_stat_line_is_read_with_a_command_name_holding_spaces_and_parentheses() -> None:
    fields = ["S", "41", "40"] + ["0"] * 8 + [str(3 * CLOCK_TICKS), str(CLOCK_TICKS)]
    fields += [str(2 * CLOCK_TICKS), "0"] + ["0"] * 30
    stat = parse_stat(f"123 (postgres: a (b) c) {' '.join(fields)}")
    assert (stat.comm, stat.ppid, stat.pgrp) == ("postgres: a (b) c", 41, 40)
    assert (stat.own, stat.reaped, stat.cpu) == (4.0, 2.0, 6.0)


def test_a_real_process_is_read_from_proc_and_a_gone_one_is_none() -> None:
    before = read_stat(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "sum(range(30_000_000))"])
    child.wait()
    after = read_stat(os.getpid())
    assert before is not None and after is not None
    assert after.comm.startswith(("python", "pytest")) and after.pgrp == os.getpgrp()
    # The child's CPU is ours now that we waited for it.
    assert after.reaped > before.reaped
    assert read_stat(child.pid) is None


def test_the_ledger_counts_each_process_from_the_start_or_its_birth_to_its_last_sample() -> None:
    ledger = CpuLedger()
    ledger.observe({1: ("a", 10.0), 2: ("b", 5.0)})
    ledger.observe({1: ("a", 11.0), 2: ("b", 6.5), 3: ("a", 0.25)})  # 3 born after the start
    ledger.observe({1: ("a", 12.0), 3: ("a", 0.5)})  # 2 gone: counted to its last sample
    assert ledger.used() == {"a": 2.0 + 0.5, "b": 1.5}
    assert ledger.at_start == {1, 2}
    assert ledger.exited() == 1


def test_a_pid_whose_cpu_went_down_is_a_new_process_and_the_old_ones_cpu_is_kept() -> None:
    ledger = CpuLedger()
    ledger.observe({7: ("a", 3.0)})
    ledger.observe({7: ("a", 4.0)})
    ledger.observe({7: ("b", 0.5)})  # pid 7 reused by a process of another client
    assert ledger.used() == {"a": 1.0, "b": 0.5}


def test_postgres_cpu_is_counted_for_the_databases_asked_by_application_name(
    run_env: dict[str, str],
) -> None:
    ours = run_env["CB_REVIEW_DATABASE_URL"].rsplit("/", 1)[1]
    with (
        psycopg.connect(f"{PG}/{ours}", application_name="worker-intake") as busy,
        psycopg.connect(f"{PG}/postgres", application_name="worker-intake") as other,
    ):
        busy_pid, other_pid = busy.info.backend_pid, other.info.backend_pid
        sampler = PgCpu([ours], pg_label, interval=0.1)
        sampler.begin()
        busy.execute(BUSY_SQL)
        other.execute(BUSY_SQL)  # another database's: not ours to count
        used = sampler.finish()
    assert used["postgres for intake worker"] > 0
    assert busy_pid in sampler.ledger.at_start
    assert other_pid not in sampler.ledger.labels
    # The server's background processes (and the postmaster) are there, apart.
    assert PG_SHARED in set(sampler.ledger.labels.values())
    assert {label for label in used if label != PG_SHARED} == {"postgres for intake worker"}


def test_the_bench_names_its_own_and_the_polling_backends_apart_from_the_systems() -> None:
    assert pg_label("bench", "client backend").startswith("bench")
    assert pg_label("review-inbox", "client backend").startswith("bench: inbox polling")
    assert pg_label("worker-review.subcentre-2", "client backend") == (
        "postgres for review level workers"
    )
    assert pg_label("", "autovacuum worker") == "postgres for autovacuum worker"


def test_a_case_is_committed_when_its_level_worker_logged_it_opened(tmp_path: Path) -> None:
    def line(message: str, application: str, ts: str) -> str:
        return json.dumps({"ts": ts, "message": message, "application_id": application})

    (tmp_path / "worker-review.acceptance_point-1.log").write_text(
        "\n".join(
            [
                "not json: a worker's banner",
                line("case opened", "a1", "2026-03-01T10:00:00.250+00:00"),
                line("case already open", "a2", "2026-03-01T10:00:05.000+00:00"),
                line("case opened", "elsewhere", "2026-03-01T10:00:06.000+00:00"),
            ]
        )
    )
    (tmp_path / "worker-review.subcentre-2.log").write_text(
        line("case opened", "a1", "2026-03-01T10:00:01.500+00:00")
    )
    found = committed_at(tmp_path, {"a1", "a2"})
    assert set(found) == {("a1", "acceptance_point"), ("a1", "subcentre")}
    assert found["a1", "subcentre"] - found["a1", "acceptance_point"] == 1.25
