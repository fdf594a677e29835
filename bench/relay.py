"""The outbox relay's cost per row: one backlog of outbox rows published by the relay as it is,
and by the relay it replaced (one ``send_task`` a row), in the same run.

    .venv/bin/python bench/relay.py [--rows 20000] [--baseline 974b63c]

Makes its own intake database (migrated), Redis DB and var directory, all removed at the end,
also on failure or Ctrl-C. The baseline is ``shared/relay.py`` as it was at ``--baseline``
(``git show``; by default the last commit whose relay sent each row with ``send_task``, one
LPUSH round trip each), written into the var directory as a module of its own and run on
the same shared code as the relay of this tree; nothing of it stays in the relay itself.

Each relay in turn (the baseline first) gets the same backlog: the outbox and the Redis DB
emptied, the relay started as the Procfile starts it (``python -m shared.relay --service
intake``, batches of 200) and left until it has looked at Redis once (its broker marker set)
and idles; then ``--rows`` ``review.open_case`` rows as intake writes them (a deposit's
payload, each its own application, certificate number and attachment digest) are inserted
in one statement, whose commit's NOTIFY wakes the relay, and the bench waits until no row
is pending. It times that (commit to the last row marked sent) and counts the relay's CPU
seconds over it (``/proc``: the relay's process group, user and system). Checks: every row's
message is on ``review.acceptance_point`` exactly once, with the row's id as its task id.
Exits 1 if a check fails.

It ends with its headline figures, ``name: value`` one a line: ``relay_rows_per_s`` and
``relay_cpu_ms_per_row`` (this tree's relay), ``send_task_relay_rows_per_s`` and
``send_task_relay_cpu_ms_per_row`` (the baseline's), ``relay_cpu_per_row_over_send_task``
and ``relay_rows_per_s_over_send_task``, then ``messages_lost`` and ``messages_duplicated``
(both relays together). Run it three times and take the medians: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
import redis  # noqa: E402

from bench._support import Env, Processes, cpu_seconds, exit_on_sigterm  # noqa: E402

SERVICE = "intake"
QUEUE = "review.acceptance_point"
BASELINE = "974b63c"  # main before the batched relay: send_task, one round trip a row
BASELINE_MODULE = "relay_send_task"
MARKER = f"cb:relay:broker:{SERVICE}"

# Rows as intake's outbox holds a deposit's first review.open_case (shared.contracts'
# review_request), the row id as the message id.
INSERT_BACKLOG = """
INSERT INTO outbox (id, task_name, queue, payload)
SELECT id, 'review.open_case', %(queue)s, jsonb_build_object(
    'application_id', gen_random_uuid()::text, 'round', 1, 'level', 'acceptance_point',
    'kind', 'deposit', 'outcome_kind', 'social_training', 'unit_code', 'AP000001',
    'unit_path', '/ZJ/B01/S001/AP000001/', 'taken_by_id', 7, 'credits', NULL,
    'hours', '48.00', 'certificate_number', 'PX' || lpad(n::text, 6, '0'),
    'attachments', jsonb_build_array(encode(sha256(n::text::bytea), 'hex')),
    'dates', jsonb_build_object('start_date', '2026-03-01', 'end_date', '2026-03-20'),
    'submitted_at', to_json(now()) #>> '{}', 'message_id', id::text)
FROM (SELECT gen_random_uuid() AS id, n FROM generate_series(1, %(rows)s) AS n) AS backlog
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--baseline", default=BASELINE, help="the commit of the send_task relay")
    args = parser.parse_args()
    exit_on_sigterm()
    env = Env("bench_relay", (SERVICE,))
    try:
        env.create()
        from shared.migrations import upgrade

        upgrade(SERVICE, env.url(SERVICE))
        baseline = subprocess.run(
            ["git", "show", f"{args.baseline}:shared/relay.py"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        (env.var_dir / f"{BASELINE_MODULE}.py").write_text(baseline)
        results = {
            "send_task": run(env, BASELINE_MODULE, args.rows),
            "batched": run(env, "shared.relay", args.rows),
        }
    finally:
        env.remove()
    return report(results, args.rows)


def run(env: Env, module: str, rows: int) -> dict[str, float]:
    """One relay through one backlog: seconds, CPU seconds, messages lost and duplicated."""
    client = redis.Redis.from_url(env.redis_url)
    client.flushdb()  # the bench's own DB
    with psycopg.connect(env.dsn(SERVICE), autocommit=True) as conn:
        conn.execute("TRUNCATE outbox")
    procs = Processes(env)
    try:
        procs.start(module, [sys.executable, "-m", module, "--service", SERVICE])
        group = procs.procs[module].pid
        while not client.exists(MARKER):
            procs.check_alive()
            time.sleep(0.2)
        time.sleep(1.0)  # its first batch done: only its start-up is left out
        cpu_before = cpu_seconds({group: module}, {})[module]
        with psycopg.connect(env.dsn(SERVICE), autocommit=True) as conn:
            began = time.monotonic()
            conn.execute(INSERT_BACKLOG, {"queue": QUEUE, "rows": rows})
            while pending(conn):
                procs.check_alive()
                time.sleep(0.05)
            took = time.monotonic() - began
        cpu = cpu_seconds({group: module}, {})[module] - cpu_before
    finally:
        procs.stop_all()
    ids = [json.loads(raw)["headers"]["id"] for raw in client.lrange(QUEUE, 0, -1)]
    with psycopg.connect(env.dsn(SERVICE)) as conn:
        rows_ids = {str(r[0]) for r in conn.execute("SELECT id FROM outbox")}
    print(f"{module}: {rows} rows in {took:.2f} s, {cpu:.2f} CPU s", flush=True)
    return {
        "seconds": took,
        "cpu": cpu,
        "lost": len(rows_ids - set(ids)),
        "duplicated": len(ids) - len(set(ids)),
    }


def pending(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetchone()
    return int(row[0]) if row else 0


def report(results: dict[str, dict[str, float]], rows: int) -> int:
    new, old = results["batched"], results["send_task"]
    figures = {
        "relay_rows_per_s": rows / new["seconds"],
        "relay_cpu_ms_per_row": new["cpu"] * 1000 / rows,
        "send_task_relay_rows_per_s": rows / old["seconds"],
        "send_task_relay_cpu_ms_per_row": old["cpu"] * 1000 / rows,
    }
    figures["relay_cpu_per_row_over_send_task"] = (
        figures["relay_cpu_ms_per_row"] / figures["send_task_relay_cpu_ms_per_row"]
    )
    figures["relay_rows_per_s_over_send_task"] = (
        figures["relay_rows_per_s"] / figures["send_task_relay_rows_per_s"]
    )
    lost = int(new["lost"] + old["lost"])
    duplicated = int(new["duplicated"] + old["duplicated"])
    for name, value in figures.items():
        digits = 4 if "ms" in name or "over" in name else 1
        print(f"{name}: {value:.{digits}f}")
    print(f"messages_lost: {lost}")
    print(f"messages_duplicated: {duplicated}")
    return 1 if lost or duplicated else 0


if __name__ == "__main__":
    sys.exit(main())
