"""Certificate applications at the window: of the whole record or of chosen entries, each
stated as the ledger holds it; what cannot be stated is refused by its place, and nothing is
written."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from services.intake.context import db
from services.intake.models import Application, Outbox
from tests.factories import Conversions, Window, decide

APPLY = "/api/v1/certificate-applications"
SUBCENTRE_ADMIN = ("S001", "/ZJ/B01/S001/", "subcentre", ("admin",), None)


@pytest.fixture
def conv(window: Window) -> Conversions:
    conversions = Conversions(window)
    conversions.catalogue()
    conversions.standard()
    return conversions


def errors(response: Any) -> dict[str, str]:
    return {e["field"]: e["reason"] for e in response.json["errors"]}


def certificate_applications() -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.count()).where(Application.kind == "certificate")))


def test_the_whole_record_is_stated_entry_by_entry(window: Window, conv: Conversions) -> None:
    clerk = window.token()
    account = window.open_account(clerk)
    training = conv.outcome(clerk, account)
    certificate = conv.outcome(clerk, account, kind="skill_certificate")
    converted = window.client.post(
        "/api/v1/conversions", headers=clerk, json=conv.body(account, [certificate])
    ).json
    decide(converted["id"], "approved")
    r = window.client.post(
        APPLY, headers=clerk, json={"account_number": account, "purpose": "求职"}
    )
    assert r.status_code == 201, r.json
    data = r.json["data"]
    assert (data["scope"], data["purpose"]) == ("whole", "求职")
    assert [
        (e["entry_kind"], e["outcome_kind"], e["hours"], e["credits"]) for e in data["entries"]
    ] == [
        ("deposit", "social_training", "48.00", "0.00"),
        ("deposit", "skill_certificate", "0.00", "0.00"),
        ("conversion", "conversion", "0", "3.00"),
    ]
    assert data["entries"][0]["entry_id"] == training and data["entries"][0]["on"] == "2026-03-20"
    assert data["entries"][1]["code"] == "C-WEB"
    assert data["entries"][2]["target"] == {
        "institution": "开放大学",
        "programme": "计算机应用技术",
        "course": None,
    }
    assert data["totals"] == {"hours": "48.00", "credits": "0.00", "converted_credits": "3.00"}
    with db.transaction() as session:
        sent = session.scalars(
            select(Outbox.payload).where(Outbox.task_name == "review.open_case")
        ).all()
    to_review = next(p for p in sent if p["application_id"] == r.json["id"])
    assert (to_review["kind"], to_review["credits"], to_review["hours"]) == (
        "certificate",
        None,
        None,
    )


def test_what_cannot_be_stated_is_refused_by_its_place(window: Window, conv: Conversions) -> None:
    clerk = window.token()
    account = window.open_account(clerk)
    training = conv.outcome(clerk, account)
    reversed_ = conv.outcome(clerk, account)
    converted = window.client.post(
        "/api/v1/conversions", headers=clerk, json=conv.body(account, [reversed_])
    ).json
    decide(converted["id"], "approved")
    admin = window.token(*SUBCENTRE_ADMIN)
    assert (
        window.client.post(
            f"/api/v1/conversions/{converted['id']}/reversal",
            headers=admin,
            json={"reason": "造假"},
        ).status_code
        == 201
    )
    entries = window.client.get(f"/api/v1/accounts/{account}/ledger", headers=clerk).json["items"]
    conversion = next(e["id"] for e in entries if e["entry_kind"] == "conversion")
    reversal = next(e["id"] for e in entries if e["entry_kind"] == "reversal")
    other = window.open_account(clerk)
    theirs = conv.outcome(clerk, other)
    body = {
        "account_number": account,
        "entries": [training, training, conversion, reversal, theirs],
    }
    r = window.client.post(APPLY, headers=clerk, json=body)
    assert r.status_code == 422
    assert errors(r) == {
        "entries.1": f"entry {training} is named twice",
        "entries.2": f"entry {conversion} has been reversed",
        "entries.3": f"{reversal} is a reversal",
        "entries.4": f"{theirs} is not an entry of this account",
    }
    assert certificate_applications() == 0
    chosen = window.client.post(
        APPLY, headers=clerk, json={"account_number": account, "entries": [training]}
    )
    assert chosen.status_code == 201 and chosen.json["data"]["scope"] == "chosen"
    # the whole record leaves out what was reversed
    whole = window.client.post(APPLY, headers=clerk, json={"account_number": account}).json
    assert [e["entry_id"] for e in whole["data"]["entries"]] == [training, reversed_]


def test_an_empty_record_or_no_window_is_refused(window: Window) -> None:
    clerk = window.token()
    account = window.open_account(clerk)
    empty = window.client.post(APPLY, headers=clerk, json={"account_number": account})
    assert empty.status_code == 422 and errors(empty) == {
        "entries": "the account has no approved outcome or conversion"
    }
    reviewer = window.token("S001", "/ZJ/B01/S001/", "subcentre", ("reviewer",), None)
    assert (
        window.client.post(APPLY, headers=reviewer, json={"account_number": account}).status_code
        == 403
    )
    assert certificate_applications() == 0
