"""Two conversions at the same instant, really in parallel (two threads, two connections, both
held at the learner's row until each is waiting there, then let go together): for the same
outcome, or for the last room under a cap, one wins and the other is refused, plainly. And the
database holds an outcome once even for a writer that forgot the lock."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from services.intake.context import db
from services.intake.conversion.models import Reservation, ReservationStatus
from services.intake.models import Application, Learner
from tests.factories import Conversions, Window

APPLY = "/api/v1/conversions"


@pytest.fixture
def conv(window: Window) -> Conversions:
    conversions = Conversions(window)
    conversions.catalogue()
    return conversions


def waiting_on_locks() -> int:
    with db.engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        )


def at_once(intake_app: Flask, learner_id: int, posts: list[Callable[[Any], Any]]) -> list[Any]:
    """Run each post in its own thread while the learner's row is held, wait until all of
    them are blocked on it, then let them go together; their responses, in order."""
    results: list[Any] = [None] * len(posts)

    def run(index: int) -> None:
        results[index] = posts[index](intake_app.test_client())

    with db.engine.connect() as gate:
        gate.execute(select(Learner.id).where(Learner.id == learner_id).with_for_update())
        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(posts))]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 20
        while waiting_on_locks() < len(posts):
            assert time.monotonic() < deadline, "the conversions never both reached the lock"
            time.sleep(0.02)
        gate.rollback()  # both are in flight, waiting on the same row: go
    for thread in threads:
        thread.join(timeout=30)
    return results


def learner_of(account: str) -> int:
    from services.intake.models import Account

    with db.transaction() as session:
        return int(session.scalar(select(Account.learner_id).where(Account.number == account)))


def conversions_taken() -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.count()).where(Application.kind == "conversion")))


def test_two_conversions_of_one_outcome_at_once_one_wins(
    intake_app: Flask, window: Window, conv: Conversions
) -> None:
    clerk = window.token()
    account = window.open_account(clerk)
    conv.standard()
    training = conv.outcome(clerk, account)
    body = conv.body(account, [training])
    course = conv.body(account, [training], target={"institution": "U1", "programme": "U1-CS",
                                                     "course": "U1-CS-EL"})  # fmt: skip
    first, second = at_once(
        intake_app,
        learner_of(account),
        [
            lambda client: client.post(APPLY, headers=clerk, json=body),
            lambda client: client.post(APPLY, headers=clerk, json=course),
        ],
    )
    assert sorted([first.status_code, second.status_code]) == [201, 409]
    won, lost = (first, second) if first.status_code == 201 else (second, first)
    assert lost.json["errors"] == [
        {
            "field": "outcomes.0",
            "location": "json",
            "reason": f"outcome {training} is already reserved by conversion {won.json['id']}",
        }
    ]
    assert conversions_taken() == 1
    with db.transaction() as session:
        held = session.scalars(select(Reservation.status)).all()
    assert held == [ReservationStatus.RESERVED]


def test_two_conversions_for_the_last_room_under_a_cap_one_wins(
    intake_app: Flask, window: Window, conv: Conversions
) -> None:
    clerk = window.token()
    account = window.open_account(clerk)
    conv.standard(caps=[{"kind": "per_year", "limit": "5", "year_starts": "03-01"}])
    one, two = conv.outcome(clerk, account), conv.outcome(clerk, account)  # 3 credits each
    first, second = at_once(
        intake_app,
        learner_of(account),
        [
            lambda client: client.post(APPLY, headers=clerk, json=conv.body(account, [one])),
            lambda client: client.post(APPLY, headers=clerk, json=conv.body(account, [two])),
        ],
    )
    assert sorted([first.status_code, second.status_code]) == [201, 422]
    lost = first if first.status_code == 422 else second
    assert {e["field"]: e["reason"] for e in lost.json["errors"]} == {
        "caps.per_year": "the per_year cap of 5 credits would be exceeded: 3 already used, 3 asked"
    }
    assert conversions_taken() == 1


def test_the_database_holds_an_outcome_once_even_without_the_lock(
    window: Window, conv: Conversions
) -> None:
    clerk = window.token()
    account = window.open_account(clerk)
    conv.standard()
    training = conv.outcome(clerk, account)
    applied = window.client.post(APPLY, headers=clerk, json=conv.body(account, [training])).json
    with db.transaction() as session:
        learner = session.scalar(select(Reservation.learner_id))
    row = {
        "ledger_entry_id": training,
        "application_id": applied["id"],
        "learner_id": learner,
        "status": ReservationStatus.RESERVED,
        "credits": 1,
        "year_start": date(2026, 3, 1),
        "target_institution": "U1",
        "target_programme": "U1-CS",
    }
    with (
        pytest.raises(IntegrityError, match="uq_conversion_reservations_held"),
        db.transaction() as session,
    ):
        session.add(Reservation(**row))
    # a released reservation no longer holds it
    with db.transaction() as session:
        session.execute(Reservation.__table__.update().values(status=ReservationStatus.RELEASED))
        session.add(Reservation(**row))
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Reservation)) == 2


def test_an_outcome_taken_after_it_was_weighed_is_named_and_the_others_are_not_reserved(
    intake_app: Flask, window: Window, conv: Conversions
) -> None:
    """A writer that weighed the outcomes free and then finds one taken (the reservations
    go in as one statement): the one taken is named, and once the refusal is rolled back
    none of the rest is held."""
    from services.intake.context import context
    from services.intake.conversion import applications as conversions
    from shared.auth import Principal
    from shared.errors import Conflict

    clerk = window.token()
    account = window.open_account(clerk)
    conv.standard()
    free, taken = conv.outcome(clerk, account), conv.outcome(clerk, account)
    principal = Principal(
        7, "clerk", "AP000001", "/ZJ/B01/S001/AP000001/", "acceptance_point",
        frozenset({"service"}), "OPERATING",
    )  # fmt: skip
    request = conversions.request_of(conv.body(account, [free, taken]))
    with intake_app.app_context(), db.transaction() as session:
        weighed = conversions.weigh(session, context(), principal, request)
        assert not weighed.conflicts and not weighed.problems
        # meanwhile another conversion takes one of them
        other = window.client.post(APPLY, headers=clerk, json=conv.body(account, [taken]))
        assert other.status_code == 201, other.json
        with pytest.raises(Conflict) as refused:
            # any application row will do for the reservations' key: only its id is used
            application = session.get_one(Application, uuid.UUID(other.json["id"]))
            conversions._reserve(session, application, weighed)
        assert [(e.field, e.reason) for e in refused.value.errors] == [
            ("outcomes", f"outcome {taken} was reserved a moment ago")
        ]
        session.rollback()  # as the view's request does on a refusal
    with db.transaction() as session:
        held = session.execute(select(Reservation.ledger_entry_id, Reservation.status)).all()
    assert held == [(taken, ReservationStatus.RESERVED)]
