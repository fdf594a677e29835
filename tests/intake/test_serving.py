"""A learner is served at any window of the province: found by the document they present,
their account reached through the reference it gives that window, its number whole only
within its home subtree. The import path follows the same rule."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import pytest

from services.intake import serving
from services.intake.context import worker_context
from services.intake.models import Application, LedgerEntry, Outbox
from tests.factories import Window, decide, mobile, resident_id
from tests.intake.conftest import count

HOME = {"unit": "AP000001", "path": "/ZJ/B01/S001/AP000001/"}
ELSEWHERE = {"unit": "AP000009", "path": "/ZJ/B05/S060/AP000009/"}  # another city
THIRD = {"unit": "AP000010", "path": "/ZJ/B05/S060/AP000010/"}


def opened_at_home(window: Window, **learner: Any) -> tuple[str, dict[str, Any]]:
    """An account opened and approved at AP000001; its number and the learner's details."""
    details = window.learner(**learner)
    r = window.client.post("/api/v1/accounts", headers=window.token(**HOME), json=details)
    assert r.status_code == 201, r.json
    decide(r.json["id"], "approved")
    got = window.client.get(f"/api/v1/applications/{r.json['id']}", headers=window.token(**HOME))
    return got.json["account_number"], details


def lookup(window: Window, headers: dict[str, str], details: dict[str, Any]) -> Any:
    body = {k: details[k] for k in ("document_type", "document_number")}
    return window.client.post("/api/v1/learners/lookup", headers=headers, json=body)


def test_a_window_in_another_city_finds_the_learner_masked(window: Window, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    number, details = opened_at_home(window, name="欧阳明华")
    there = window.token(**ELSEWHERE)
    found = lookup(window, there, details)
    assert found.status_code == 200, found.json
    account = found.json["account"]
    assert account["number"] == number[:2] + "*" * (len(number) - 6) + number[-4:]
    assert account["status"] == "open" and account["unit_code"] == "AP000001"
    assert account["learner"]["name"] == "欧**华"
    assert details["document_number"] not in caplog.text


def test_there_the_reference_reaches_the_account_and_the_number_alone_does_not(
    window: Window,
) -> None:
    number, details = opened_at_home(window)
    there = window.token(**ELSEWHERE)
    found = lookup(window, there, details).json
    ref = found["account_ref"]
    # The number alone is still not enough there: the account lies outside its subtree.
    assert window.client.get(f"/api/v1/accounts/{number}", headers=there).status_code == 404
    assert (
        window.client.get(f"/api/v1/accounts/{ref}", headers=there).json["number"]
        == (found["account"]["number"])
    )


def test_a_window_in_another_city_takes_a_deposit_through_the_reference(
    window: Window, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    number, details = opened_at_home(window, name="欧阳明华")
    there = window.token(**ELSEWHERE)
    found = lookup(window, there, details).json
    account, ref = found["account"], found["account_ref"]
    evidence = [window.upload(there)]
    body = window.deposit_body(number, evidence)
    del body["account_number"]
    body["account_ref"] = ref
    r = window.client.post("/api/v1/applications", headers=there, json=body)
    assert r.status_code == 201, r.json
    assert r.json["unit_code"] == "AP000009" and r.json["account_number"] == account["number"]
    decide(r.json["id"], "approved")
    assert count(LedgerEntry) == 1
    ledger = window.client.get(f"/api/v1/accounts/{ref}/ledger", headers=there).json
    assert ledger["total"] == 1
    # The application climbs the tree of the point that took it, and only that tree sees it.
    home = window.token(**HOME)
    assert window.client.get(f"/api/v1/applications/{r.json['id']}", headers=home).status_code == (
        404
    )
    home_view = window.client.get(f"/api/v1/accounts/{number}", headers=home).json
    assert home_view["number"] == number and home_view["balances"][0]["entries"] == 1
    assert details["document_number"] not in caplog.text


def test_at_home_the_number_is_whole_and_a_returning_learner_is_found_by_document(
    window: Window,
) -> None:
    number, details = opened_at_home(window)
    found = lookup(window, window.token(**HOME), details)
    assert found.json["account"]["number"] == number
    subcentre = window.token(unit="S001", path="/ZJ/B01/S001/", level="subcentre", state=None)
    assert lookup(window, subcentre, details).json["account"]["number"] == number


def test_staff_who_are_not_a_window_find_only_their_subtree(window: Window) -> None:
    _, details = opened_at_home(window)
    other_county = window.token(
        unit="S060", path="/ZJ/B05/S060/", level="subcentre", roles=("reviewer",), state=None
    )
    assert lookup(window, other_county, details).status_code == 404
    not_operating = window.token(**ELSEWHERE, state="ACTIVE")
    assert lookup(window, not_operating, details).status_code == 404
    # The learner's own county finds them, and so does the same point once it is a window.
    home_county = window.token(
        unit="S001", path="/ZJ/B01/S001/", level="subcentre", roles=("reviewer",), state=None
    )
    assert lookup(window, home_county, details).status_code == 200
    assert lookup(window, window.token(**ELSEWHERE), details).status_code == 200


def test_a_reference_serves_only_the_window_it_was_given_to(window: Window) -> None:
    _number, details = opened_at_home(window)
    ref = lookup(window, window.token(**ELSEWHERE), details).json["account_ref"]
    assert window.client.get(
        f"/api/v1/accounts/{ref}", headers=window.token(**THIRD)
    ).status_code == (404)


def test_a_tampered_reference_reaches_nothing(window: Window) -> None:
    _number, details = opened_at_home(window)
    ref = lookup(window, window.token(**ELSEWHERE), details).json["account_ref"]
    tampered = ref[:-1] + ("0" if ref[-1] != "0" else "1")
    there = window.token(**ELSEWHERE)
    assert window.client.get(f"/api/v1/accounts/{tampered}", headers=there).status_code == 404
    assert window.client.get(f"/api/v1/accounts/{ref}", headers=there).status_code == 200


def test_a_reference_serves_for_a_while_only(window: Window) -> None:
    number, _details = opened_at_home(window)
    there = window.token(**ELSEWHERE)
    ctx = worker_context()
    expired_ctx = replace(ctx, settings=replace(ctx.settings, account_ref_ttl=-1))
    alive, _ = serving.issue_ref(ctx, found_account_id(number), "AP000009")
    assert window.client.get(f"/api/v1/accounts/{alive}", headers=there).status_code == 200
    expired, _ = serving.issue_ref(expired_ctx, found_account_id(number), "AP000009")
    assert window.client.get(f"/api/v1/accounts/{expired}", headers=there).status_code == 404


def test_a_malformed_reference_reaches_nothing(window: Window) -> None:
    there = window.token(**ELSEWHERE)
    assert window.client.get("/api/v1/accounts/ar1.garbage", headers=there).status_code == 404


def found_account_id(number: str) -> int:
    from sqlalchemy import select

    from services.intake.context import db
    from services.intake.models import Account

    with db.transaction() as session:
        return int(session.scalar(select(Account.id).where(Account.number == number)) or 0)


def test_an_opening_refused_as_a_second_account_gives_the_window_the_reference(
    window: Window,
) -> None:
    _, details = opened_at_home(window)
    there = window.token(**ELSEWHERE)
    r = window.client.post("/api/v1/accounts", headers=there, json=details)
    assert r.status_code == 409 and "*" in r.json["existing_account"]
    account = window.client.get(f"/api/v1/accounts/{r.json['account_ref']}", headers=there)
    assert account.status_code == 200 and account.json["unit_code"] == "AP000001"


def test_a_document_no_account_holds_is_404(window: Window) -> None:
    there = window.token(**ELSEWHERE)
    unknown = {"document_type": "resident_id", "document_number": resident_id()}
    r = window.client.post("/api/v1/learners/lookup", headers=there, json=unknown)
    assert r.status_code == 404 and r.json["detail"] == "no learning account holds this document"


def test_a_lookup_with_an_invalid_document_number_is_422(window: Window) -> None:
    there = window.token(**ELSEWHERE)
    bad = {"document_type": "resident_id", "document_number": "330102199003071234"}
    r = window.client.post("/api/v1/learners/lookup", headers=there, json=bad)
    assert r.status_code == 422 and r.json["errors"][0]["field"] == "document_number"


def test_a_deposit_names_its_account_by_number_or_by_reference_not_both(window: Window) -> None:
    there = window.token(**ELSEWHERE)
    number, _ = opened_at_home(window)
    evidence = [window.upload(there)]
    both = {**window.deposit_body(number, evidence), "account_ref": "ar1.x"}
    neither = window.deposit_body(number, evidence)
    del neither["account_number"]
    before = count(Application), count(Outbox)
    for body in (both, neither):
        r = window.client.post("/api/v1/applications", headers=there, json=body)
        assert r.status_code == 422 and r.json["errors"][0]["field"] == "account_number"
    assert (count(Application), count(Outbox)) == before


@pytest.mark.parametrize(("importer", "whole"), [(HOME, True), (ELSEWHERE, False)])
def test_an_import_shows_the_account_number_whole_only_within_its_home_subtree(
    window: Window, importer: dict[str, str], whole: bool
) -> None:
    from tests.import_data import to_csv
    from tests.intake.conftest import process, send

    number, details = opened_at_home(window, name="张三", phone=mobile())
    row = {
        "document_type": "",
        "document_number": details["document_number"],
        "name": "张三",
        "phone": details["phone"],
        "organiser": "杭州市职业技能培训中心",
        "programme": "电工初级培训",
        "start_date": "2026-03-01",
        "end_date": "2026-03-20",
        "hours": "48",
        "certificate_number": "PX-SERVE-1",
    }
    headers = window.token(**importer)
    r = send(window, headers, to_csv([row]))
    process(r.json["id"])
    (record,) = window.client.get(f"/api/v1/imports/{r.json['id']}/records", headers=headers).json[
        "items"
    ]
    assert record["account_number"] == (number if whole else number[:2] + "*" * 8 + number[-4:])
    assert record["name"] == "张*"
