"""Statements that run often are prepared on the server, yet planned with their values each
time: a generic plan would not use the index for ``path LIKE $1`` (``shared.db.make_engine``)."""

from __future__ import annotations

import os

from sqlalchemy import text

from shared.db import make_engine


def test_a_statement_run_often_is_prepared_and_still_planned_with_its_values() -> None:
    engine = make_engine(os.environ["CB_ORG_DATABASE_URL"], pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW plan_cache_mode")).scalar() == "force_custom_plan"
            query = text("SELECT count(*) FROM pg_class WHERE relname LIKE :prefix")
            for _ in range(6):
                conn.execute(query, {"prefix": "pg_%"})
            prepared = conn.execute(
                text(
                    "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
                    " WHERE statement LIKE '%relname LIKE%'"
                )
            ).all()
    finally:
        engine.dispose()
    assert len(prepared) == 1  # prepared once (at its fifth run), then reused
    generic, custom = prepared[0]
    assert generic == 0 and custom >= 1
