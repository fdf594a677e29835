"""Scoped reads of the org tree with 10,000 acceptance points, next to bare SQL.

    .venv/bin/python bench/org_scope.py [--points 10000] [--rounds 400]

Creates its own database (dropped at the end), loads the real tree and N acceptance points
spread over the 92 sub-centres, then times, interleaved round by round:
  * the API's scoped list (one page of a branch's acceptance points) vs the same two queries
    (count + page) as bare SQL over psycopg;
  * the API's ancestors lookup vs the bare SQL for it.
The API is driven in-process by calling the Flask app's WSGI entry point with a prepared
request (no network, no test-client bookkeeping), so the comparison is of the service's own
work: routing, token check, revocation check, argument parsing, queries, schema dump, JSON.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

PG = "postgresql://postgres@127.0.0.1:5432"


def setup(points: int) -> tuple[str, str]:
    name = f"bench_org_{os.getpid()}_{secrets.token_hex(2)}"
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    var = tempfile.mkdtemp(prefix="bench-org-")
    os.environ.update(
        {
            "CB_ORG_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}",
            "CB_VAR_DIR": var,
            "CB_LOG_LEVEL": "WARNING",
            "CB_PASSWORD_TIME_COST": "1",
            "CB_PASSWORD_MEMORY_COST": "8192",
        }
    )
    from deploy.bootstrap import ensure_keys
    from shared.migrations import upgrade

    ensure_keys()
    upgrade("org", os.environ["CB_ORG_DATABASE_URL"])
    with psycopg.connect(f"{PG}/{name}") as conn:
        from services.org.tree import tree_specs

        for spec in tree_specs():
            conn.execute(
                "INSERT INTO units (code, level, name, parent_code, path, seq, city, county,"
                " host_institution) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                (
                    spec.code,
                    spec.level.value,
                    spec.name,
                    spec.parent_code,
                    spec.path,
                    spec.seq,
                    spec.city,
                    spec.county,
                    spec.host_institution,
                ),
            )
        subs = conn.execute(
            "SELECT code, path FROM units WHERE level='subcentre' ORDER BY code"
        ).fetchall()
        with conn.cursor().copy(
            "COPY units (code, level, name, parent_code, path, state, point_kind, point_tier)"
            " FROM STDIN"
        ) as copy:
            for i in range(points):
                parent, path = subs[i % len(subs)]
                code = f"AP{i + 1:06d}"
                copy.write_row(
                    (
                        code,
                        "acceptance_point",
                        f"受理点{i + 1}",
                        parent,
                        f"{path}{code}/",
                        "OPERATING",
                        "community_school",
                        "township",
                    )
                )
        conn.execute("SELECT setval('acceptance_point_code_seq', %s)", (points,))
        conn.execute("ANALYZE units")
    return name, var


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=400)
    args = parser.parse_args()
    name, var = setup(args.points)
    try:
        run(name, args.rounds, args.points)
    finally:
        import shutil

        shutil.rmtree(var, ignore_errors=True)
        with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def wsgi_call(app: Any, url: str, headers: dict[str, str]) -> Callable[[], bytes]:
    """One GET through the app's WSGI entry point, as a server would make it."""
    from werkzeug.test import EnvironBuilder

    path, _, query = url.partition("?")
    environ = EnvironBuilder(path=path, query_string=query, headers=headers).get_environ()

    def call() -> bytes:
        status: list[str] = []
        body = b"".join(app.wsgi_app(dict(environ), lambda s, h, e=None: status.append(s)))
        assert status[0].startswith("200"), (status, body[:200])
        return body

    return call


def run(name: str, rounds: int, points: int) -> None:
    from services.org.app import create_app
    from services.org.context import context, db
    from services.org.models import Staff

    app = create_app()
    with app.app_context():
        staff = Staff(
            username="bench-b01",
            display_name="bench",
            unit_code="B01",
            roles=["admin"],
            password_hash=context().passwords.hash("bench-pass-1"),
        )
        db.session.add(staff)
        db.session.commit()
    client = app.test_client()
    token = client.post(
        "/api/v1/auth/token", json={"username": "bench-b01", "password": "bench-pass-1"}
    ).json["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    list_url = "/api/v1/units?level=acceptance_point&page=1&per_page=20"
    probe = client.get(list_url, headers=headers).json
    leaf = probe["items"][0]["code"]
    print(f"{points} acceptance points; branch B01 sees {probe['total']} of them")

    bare = psycopg.connect(  # as the services connect (shared.db.make_engine)
        f"{PG}/{name}", prepare_threshold=5, options="-c plan_cache_mode=force_custom_plan"
    )
    # The very statements the API sends (level and path bound as parameters).
    count_sql = "SELECT count(*) FROM units WHERE path LIKE %s AND level = %s"
    from services.org.tree import LISTED_COLUMNS

    columns = ", ".join(c.key for c in LISTED_COLUMNS)  # the very columns the API selects
    page_sql = (
        f"SELECT {columns} FROM units WHERE path LIKE %s AND level = %s "  # noqa: S608 - our own column names
        "ORDER BY path LIMIT %s OFFSET %s"
    )
    anc_sql = "SELECT * FROM units WHERE code = ANY(%s)"
    path = "/ZJ/B01/%"

    list_call = wsgi_call(app, list_url, headers)
    ancestors_call = wsgi_call(app, f"/api/v1/units/{leaf}/ancestors", headers)

    def api_list() -> None:
        list_call()

    def sql_list() -> None:
        bare.execute(count_sql, (path, "acceptance_point")).fetchone()
        bare.execute(page_sql, (path, "acceptance_point", 20, 0)).fetchall()

    def api_ancestors() -> None:
        ancestors_call()

    def sql_ancestors() -> None:
        code_path = bare.execute("SELECT path FROM units WHERE code = %s", (leaf,)).fetchone()
        codes = code_path[0].strip("/").split("/")[:-1]
        bare.execute(anc_sql, (codes,)).fetchall()

    timings: dict[str, list[float]] = {
        k: [] for k in ("api_list", "sql_list", "api_anc", "sql_anc")
    }
    pairs = (
        ("api_list", api_list),
        ("sql_list", sql_list),
        ("api_anc", api_ancestors),
        ("sql_anc", sql_ancestors),
    )
    for _ in range(20):  # warm-up: connections, caches, plans
        for _, fn in pairs:
            fn()
    for _ in range(rounds):
        for key, fn in pairs:
            start = time.perf_counter()
            fn()
            timings[key].append((time.perf_counter() - start) * 1000)
    bare.close()

    def line(label: str, key: str) -> None:
        t = timings[key]
        print(
            f"  {label:<34} p50 {statistics.median(t):7.3f} ms   p99 {percentile(t, 0.99):7.3f} ms"
        )

    print(f"rounds: {rounds} (interleaved)")
    line("scoped list, API (one page of 20)", "api_list")
    line("scoped list, bare SQL (count+page)", "sql_list")
    line("ancestors, API", "api_anc")
    line("ancestors, bare SQL", "sql_anc")
    ratio_list = statistics.median(timings["api_list"]) / statistics.median(timings["sql_list"])
    ratio_anc = statistics.median(timings["api_anc"]) / statistics.median(timings["sql_anc"])
    print(
        f"ratio API/bare SQL at p50: scoped list {ratio_list:.2f}x (expected <= 3x), "
        f"ancestors {ratio_anc:.2f}x"
    )


if __name__ == "__main__":
    main()
