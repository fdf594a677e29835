"""POST /api/v1/applications over HTTP against gunicorn, next to a bare baseline.

    .venv/bin/python bench/intake.py [--seconds 20] [--concurrency 4,8,12] [--workers 4]

Both servers run under gunicorn with the same settings (sync workers, --workers N) on this
machine; the load comes from client processes on loopback, each keeping its own connections.
For each concurrency it reports requests/s and p50/p99 latency for intake (a deposit with
evidence, Idempotency-Key, token, revocation check, outbox row) and for the baseline
(bench/baseline_app.py: validate a body of the same size, insert one row, publish one task).
Uses its own databases and Redis DB, dropped at the end.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import socket
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._support import (  # noqa: E402
    Env,
    Processes,
    exit_on_sigterm,
    print_log_tails,
    wait_until,
)

INTAKE_PORT, BASELINE_PORT = 18702, 18703


def setup(env: Env) -> None:
    """The intake database migrated, the baseline's (empty: it makes its table), a Redis DB,
    keys."""
    from shared.migrations import upgrade

    env.create()
    # The baseline app is not a service of the system and reads its own name for its database.
    env.vars["BASELINE_DATABASE_URL"] = os.environ["BASELINE_DATABASE_URL"] = env.vars.pop(
        "CB_BASELINE_DATABASE_URL"
    )
    upgrade("intake", env.url("intake"))


def prepare_learners(count: int) -> tuple[dict[str, str], list[str], str]:
    """Open ``count`` accounts (approved directly) and upload one piece of evidence."""
    from services.intake import decisions
    from services.intake.app import create_app
    from services.intake.context import db, worker_context
    from shared.auth import Principal, TokenIssuer
    from shared.identity import check_character
    from shared.settings import load_settings

    settings = load_settings("intake")
    private = settings.key_file("", "jwt_private.pem").read_bytes()
    principal = Principal(
        7,
        "bench-window",
        "AP000001",
        "/ZJ/B01/S001/AP000001/",
        "acceptance_point",
        frozenset({"service"}),
        "OPERATING",
    )
    token = TokenIssuer(private, "creditbank-org", "creditbank", 3600).issue(principal)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    app = create_app()
    client = app.test_client()
    accounts = []
    with app.app_context():
        for i in range(count):
            first17 = f"33010219900101{i:03d}"
            number = first17 + check_character(first17)
            r = client.post(
                "/api/v1/accounts",
                headers=headers,
                json={
                    "document_type": "resident_id",
                    "document_number": number,
                    "name": "测试学员",
                    "phone": f"139{i:08d}",
                    "verification_method": "card_reader",
                },
            )
            with db.transaction() as session:
                decisions.apply_decision(
                    session,
                    worker_context(),
                    {
                        "message_id": uuid.uuid4(),
                        "application_id": uuid.UUID(r.json["id"]),
                        "round": 1,
                        "level": "acceptance_point",
                        "outcome": "approved",
                        "decided_by_id": 1,
                        "decided_by": "bench",
                        "decided_at": None,
                        "reason": None,
                    },
                )
            got = client.get(f"/api/v1/applications/{r.json['id']}", headers=headers)
            accounts.append(got.json["account_number"])
        import io

        up = client.post(
            "/api/v1/attachments",
            headers={"Authorization": headers["Authorization"]},
            data={"file": (io.BytesIO(b"%PDF-1.4 bench evidence"), "e.pdf")},
            content_type="multipart/form-data",
        )
        sha = up.json["sha256"]
    return headers, accounts, sha


def body_for(account: str, sha: str, i: int) -> bytes:
    return json.dumps(
        {
            "account_number": account,
            "outcome_kind": "social_training",
            "outcome": {
                "organiser": "杭州市职业技能培训中心",
                "programme": "电工初级培训",
                "hours": "48",
                "start_date": "2026-03-01",
                "end_date": "2026-03-20",
                "certificate_number": f"PX{i:010d}",
            },
            "attachments": [sha],
        },
        ensure_ascii=False,
    ).encode()


def client_loop(args: tuple) -> list[float]:
    port, path, headers, accounts, sha, seconds, seed = args
    latencies, i = [], seed * 10_000_000
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        i += 1
        body = body_for(accounts[i % len(accounts)], sha, i)
        h = {**headers, "Idempotency-Key": f"bench-{i}", "Content-Length": str(len(body))}
        start = time.perf_counter()
        try:
            conn.request("POST", path, body=body, headers=h)
            response = conn.getresponse()
            response.read()
        except (http.client.HTTPException, OSError):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            continue
        if response.status != 201:
            raise RuntimeError(f"{path}: HTTP {response.status}")
        latencies.append(time.perf_counter() - start)
        if response.getheader("Connection", "").lower() == "close":
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    return latencies


def drive(port: int, path: str, headers, accounts, sha, seconds: float, concurrency: int):
    probe = client_loop((port, path, headers, accounts, sha, 0.2, 99))  # fails loudly, early
    assert probe, f"{path}: no request succeeded"
    with mp.get_context("fork").Pool(concurrency) as pool:
        results = pool.map(
            client_loop,
            [(port, path, headers, accounts, sha, seconds, k) for k in range(concurrency)],
        )
    latencies = sorted(x for r in results for x in r)
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    return len(latencies) / seconds, statistics.median(latencies) * 1000, p99 * 1000


def accepting(port: int) -> bool:
    """Something accepts connections on ``port``: all a server is asked before the load, as
    the baseline app has no /healthz (its first requests wait for its workers)."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def serve(procs: Processes, name: str, app_path: str, port: int, workers: int) -> None:
    """gunicorn with the same settings for both apps (not deploy/gunicorn.conf.py)."""
    procs.start(
        name,
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--no-control-socket",
            "--log-level",
            "warning",
            app_path,
        ],
    )
    if not wait_until(lambda: accepting(port), procs, 30):
        raise SystemExit(f"{app_path} did not start")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", default="4,8,12")
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    exit_on_sigterm()
    env = Env("bench_intake", ("intake", "baseline"))
    procs = Processes(env, path=(ROOT / "bench",))  # baseline_app
    failed = True
    try:
        setup(env)
        headers, accounts, sha = prepare_learners(200)
        serve(procs, "intake", "services.intake.app:create_app()", INTAKE_PORT, args.workers)
        serve(procs, "baseline", "baseline_app:create_app()", BASELINE_PORT, args.workers)
        print(f"gunicorn sync workers: {args.workers} each; {args.seconds:.0f} s per run")
        print(
            f"{'concurrency':>11} {'intake req/s':>13} {'p50 ms':>7} {'p99 ms':>7} "
            f"{'baseline req/s':>15} {'p50 ms':>7} {'p99 ms':>7} {'ratio':>6}"
        )
        for c in (int(x) for x in args.concurrency.split(",")):
            it = drive(INTAKE_PORT, "/api/v1/applications", headers, accounts, sha, args.seconds, c)
            base = drive(
                BASELINE_PORT,
                "/baseline",
                {"Content-Type": "application/json"},
                accounts,
                sha,
                args.seconds,
                c,
            )
            print(
                f"{c:>11} {it[0]:>13.1f} {it[1]:>7.1f} {it[2]:>7.1f} {base[0]:>15.1f} "
                f"{base[1]:>7.1f} {base[2]:>7.1f} {it[0] / base[0]:>6.2f}"
            )
        failed = False
    finally:
        if failed:
            print_log_tails(env)
        procs.stop_all()
        env.remove()


if __name__ == "__main__":
    main()
