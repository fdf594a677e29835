"""An approved deposit found false is reversed by a new entry, never an edit: by an
administrator above the point, once, and only when no conversion stands on it; the balances
then net it out, and the outcome can no longer be converted."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from services.intake.context import db
from services.intake.models import LedgerDay
from shared.clock import CHINA
from tests.factories import Conversions, Window, decide

SUBCENTRE_ADMIN = ("S001", "/ZJ/B01/S001/", "subcentre", ("admin",), None)


@pytest.fixture
def conv(window: Window) -> Conversions:
    conversions = Conversions(window)
    conversions.catalogue()
    conversions.standard()
    return conversions


def deposited(window: Window, clerk: dict[str, str], account: str) -> tuple[str, int]:
    r = window.client.post(
        "/api/v1/applications",
        headers=clerk,
        json=window.deposit_body(account, [window.upload(clerk)]),
    )
    assert r.status_code == 201, r.json
    decide(r.json["id"], "approved")
    entries = window.client.get(f"/api/v1/accounts/{account}/ledger", headers=clerk).json["items"]
    return r.json["id"], next(e["id"] for e in entries if e["application_id"] == r.json["id"])


def kinds(window: Window, clerk: dict[str, str], account: str) -> list[tuple[Any, ...]]:
    entries = window.client.get(f"/api/v1/accounts/{account}/ledger", headers=clerk).json["items"]
    return [(e["entry_kind"], e["credits"], e["hours"]) for e in entries]


def test_a_deposit_is_reversed_by_a_new_entry_once(window: Window, conv: Conversions) -> None:
    clerk = window.token()
    account = window.open_account(clerk)
    application, entry = deposited(window, clerk, account)
    path = f"/api/v1/deposits/{application}/reversal"
    assert window.client.post(path, headers=clerk, json={"reason": "证书伪造"}).status_code == 403
    admin = window.token(*SUBCENTRE_ADMIN)
    elsewhere = window.token("S002", "/ZJ/B01/S002/", "subcentre", ("admin",), None)
    assert window.client.post(path, headers=elsewhere, json={"reason": "x"}).status_code == 404
    r = window.client.post(path, headers=admin, json={"reason": "证书伪造"})
    assert r.status_code == 201, r.json
    assert (r.json["entry_kind"], r.json["hours"], r.json["description"]) == (
        "reversal",
        "-48.00",
        "冲销：电工初级培训",
    )
    assert kinds(window, clerk, account) == [
        ("deposit", "0.00", "48.00"),
        ("reversal", "0.00", "-48.00"),
    ]
    assert window.client.post(path, headers=admin, json={"reason": "再次"}).status_code == 409
    balances = window.client.get(f"/api/v1/accounts/{account}", headers=clerk).json["balances"]
    assert balances == [
        {"outcome_kind": "social_training", "credits": "0.00", "hours": "0.00", "entries": 1}
    ]
    timeline = window.client.get(f"/api/v1/applications/{application}", headers=clerk).json
    assert timeline["timeline"][-1]["type"] == "reversed"
    # what was reversed converts no more
    preview = window.client.post(
        "/api/v1/conversions/preview", headers=clerk, json=conv.body(account, [entry])
    ).json
    assert preview["problems"] == [
        {"field": "outcomes.0", "reason": f"outcome {entry} has been reversed"}
    ]


def test_a_deposit_a_conversion_stands_on_is_not_reversed_first(
    window: Window, conv: Conversions
) -> None:
    clerk = window.token()
    account = window.open_account(clerk)
    application, entry = deposited(window, clerk, account)
    conversion = window.client.post(
        "/api/v1/conversions", headers=clerk, json=conv.body(account, [entry])
    ).json
    admin = window.token(*SUBCENTRE_ADMIN)
    path = f"/api/v1/deposits/{application}/reversal"
    r = window.client.post(path, headers=admin, json={"reason": "证书伪造"})
    assert r.status_code == 409
    assert r.json["errors"][0]["reason"] == (
        f"outcome {entry} is reserved by conversion {conversion['id']}: end or reverse that "
        "conversion first"
    )
    assert [k for k, _, _ in kinds(window, clerk, account)] == ["deposit"]
    decide(conversion["id"], "rejected", reason="不符")  # the conversion ends: now it may
    assert window.client.post(path, headers=admin, json={"reason": "证书伪造"}).status_code == 201


def test_a_reversal_is_rolled_up_under_its_own_kind_and_leaves_the_deposits_counted(
    window: Window,
) -> None:
    """The assessment counts deposits posted (a reversal is a correction of its own, not an
    edit of the deposit's day): the roll-ups hold both entries, the figures the deposit."""
    clerk = window.token()
    account = window.open_account(clerk)
    application, _ = deposited(window, clerk, account)
    admin = window.token(*SUBCENTRE_ADMIN)
    r = window.client.post(
        f"/api/v1/deposits/{application}/reversal", headers=admin, json={"reason": "证书伪造"}
    )
    assert r.status_code == 201, r.json
    with db.transaction() as session:
        rows = session.execute(
            select(LedgerDay.entry_kind, LedgerDay.entries, LedgerDay.hours).order_by(
                LedgerDay.entry_kind
            )
        ).all()
    assert rows == [("deposit", 1, Decimal("48.00")), ("reversal", 1, Decimal("-48.00"))]
    today = str(datetime.now(CHINA).date())
    figures = window.client.get(
        "/api/v1/assessment",
        headers=admin,
        query_string={"from": today, "to": today, "by": "subcentre"},
    ).json["rows"]
    assert [(f["deposits"], f["social_training_hours"]) for f in figures] == [(1, "48.00")]
