"""A decision that ends the round is told to the learner through notify: plain facts, the
account number masked, the phone number sealed for notify alone."""

from __future__ import annotations

import json

from sqlalchemy import select, text

from services.intake.context import db
from services.intake.models import Outbox
from shared import sealing
from tests.factories import decide


def told() -> list[dict]:
    with db.transaction() as session:
        rows = session.scalars(
            select(Outbox).where(Outbox.task_name == "notify.deliver").order_by(Outbox.created_at)
        )
        return [r.payload for r in rows]


def test_the_learner_hears_of_the_end_of_each_round(window, var_dir) -> None:
    headers = window.token()
    r = window.open(headers, phone="13911112222")
    assert r.status_code == 201, r.json
    opening = r.json["id"]
    assert decide(opening, "passed_up") == "passed_up"
    assert told() == []  # passing up is not the end of the round
    decide(opening, "approved")
    (message,) = told()
    assert message["event_type"] == "intake.application_decided"
    assert message["data"]["outcome"] == "approved" and message["data"]["kind"] == "account_opening"
    assert "****" in message["data"]["account_number"]
    assert message["unit_path"] == "/ZJ/B01/S001/AP000001/"
    assert "13911112222" not in json.dumps(message)
    private = (var_dir / "keys" / "notify_seal_private.pem").read_bytes()
    assert sealing.unseal(private, message["sealed"]["phone"]) == "13911112222"


def test_an_email_address_is_kept_encrypted_shown_masked_and_sealed_for_notify(
    window, var_dir
) -> None:
    headers = window.token()
    r = window.open(headers, email="Wang.Wu@Example.com")
    assert r.status_code == 201, r.json
    assert r.json["learner"]["email"] == "w***@example.com"
    decide(r.json["id"], "approved")
    (message,) = told()
    private = (var_dir / "keys" / "notify_seal_private.pem").read_bytes()
    assert sealing.unseal(private, message["sealed"]["email"]) == "wang.wu@example.com"
    with db.transaction() as session:
        dump = session.execute(text("SELECT learners::text FROM learners")).scalars().all()
    assert not any("example.com" in row and "wang.wu" in row.lower() for row in dump)


def test_an_opening_with_an_invalid_email_address_is_422(window) -> None:
    bad = window.open(window.token(), email="not-an-address")
    assert bad.status_code == 422 and bad.json["errors"][0]["field"] == "email"
