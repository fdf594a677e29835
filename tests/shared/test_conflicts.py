"""A transaction PostgreSQL aborts to let another through (a deadlock victim, a serialization
failure) runs again at once in a new transaction; any other error goes up the first time."""

from __future__ import annotations

import os
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from shared.db import Database, again_on_conflict


def raising(sqlstate: str) -> str:
    # A real error of that SQLSTATE, raised by PostgreSQL itself.
    return f"DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '{sqlstate}'; END $$"


@pytest.fixture
def db() -> Any:
    database = Database(os.environ["CB_INTAKE_DATABASE_URL"])
    yield database
    database.remove()


@pytest.mark.parametrize("sqlstate", ["40P01", "40001"])
def test_a_conflict_victim_runs_again_in_a_new_transaction(db: Database, sqlstate: str) -> None:
    calls: list[int] = []

    def work(session: Session) -> int:
        calls.append(session.scalar(text("SELECT txid_current()")))
        if len(calls) < 3:
            session.execute(text(raising(sqlstate)))
        return len(calls)

    assert again_on_conflict(db, work) == 3
    assert len(set(calls)) == 3  # each attempt its own transaction


def test_the_last_attempt_and_other_errors_go_up(db: Database) -> None:
    calls: list[str] = []

    def always(session: Session) -> None:
        calls.append("x")
        session.execute(text(raising("40P01")))

    with pytest.raises(DBAPIError) as caught:
        again_on_conflict(db, always, attempts=2)
    assert caught.value.orig.sqlstate == "40P01" and len(calls) == 2

    def unique(session: Session) -> None:
        calls.append("y")
        session.execute(text(raising("23505")))

    with pytest.raises(IntegrityError):
        again_on_conflict(db, unique)
    assert calls.count("y") == 1
