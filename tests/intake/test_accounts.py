"""Opening learning accounts: identity, one account per document, masking, scope."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from services.intake.context import db
from services.intake.models import Application, Learner, Outbox
from tests.factories import Window, decide, resident_id
from tests.intake.conftest import count


def test_an_opening_is_taken_and_shows_the_learner_masked(window: Window) -> None:
    headers = window.token()
    number, phone = resident_id("19900307", seq="123"), "13812345678"
    r = window.open(headers, document_number=number, phone=phone)
    assert r.status_code == 201, r.json
    body = r.json
    assert body["kind"] == "account_opening" and body["status"] == "in_review"
    assert body["learner"]["document_number"] == f"{number[:4]}**********{number[-4:]}"
    assert body["learner"]["phone"] == "138****5678"
    assert number not in r.get_data(as_text=True) and phone not in r.get_data(as_text=True)
    assert body["account_number"] is None  # issued on approval
    assert [e["type"] for e in body["timeline"]] == ["taken"]


def test_gender_and_birth_date_are_read_from_the_id_number(window: Window) -> None:
    r = window.open(window.token(), document_number=resident_id("19900307", seq="123"))
    assert r.status_code == 201, r.json
    assert r.json["learner"]["gender"] == "male" and r.json["learner"]["birth_date"] == "1990-03-07"


def test_an_opening_is_handed_to_review_with_ids_only(window: Window) -> None:
    headers = window.token()
    number, phone = resident_id("19900307", seq="123"), "13812345678"
    r = window.open(headers, document_number=number, phone=phone)
    assert r.status_code == 201, r.json
    body = r.json
    assert body["handoff"] == "queued"
    with db.transaction() as session:
        row = session.scalars(select(Outbox)).one()
    assert row.queue == "review.acceptance_point" and row.task_name == "review.open_case"
    assert row.payload["application_id"] == body["id"] and row.payload["round"] == 1
    assert number not in str(row.payload) and phone not in str(row.payload)


def test_approval_issues_the_account_number(window: Window) -> None:
    headers = window.token()
    r = window.open(headers)
    assert decide(r.json["id"], "approved") == "approved"
    got = window.client.get(f"/api/v1/applications/{r.json['id']}", headers=headers).json
    assert got["status"] == "approved" and got["account_number"].startswith("ZJ")
    account = window.client.get(f"/api/v1/accounts/{got['account_number']}", headers=headers)
    assert account.status_code == 200 and account.json["status"] == "open"
    assert account.json["balances"] == []
    assert [e["type"] for e in got["timeline"]] == ["taken", "approved"]


def test_a_second_opening_while_the_first_is_in_review_is_409_naming_it(window: Window) -> None:
    headers, number = window.token(), resident_id()
    first = window.open(headers, document_number=number)
    r = window.open(headers, document_number=number)
    assert r.status_code == 409 and r.json["existing_application"] == first.json["id"]
    assert count(Learner) == 1


def test_one_learner_one_account_across_the_province(window: Window) -> None:
    headers, number = window.token(), resident_id()
    first = window.open(headers, document_number=number)
    decide(first.json["id"], "approved")
    elsewhere = window.token("AP000002", "/ZJ/B02/S014/AP000002/")
    r = window.open(elsewhere, document_number=number.lower())
    assert r.status_code == 409
    masked = r.json["existing_account"]
    assert "*" in masked and r.json["errors"][0]["field"] == "document_number"
    assert count(Learner) == 1


def test_a_rejected_opening_may_be_made_again(window: Window) -> None:
    headers, number = window.token(), resident_id()
    first = window.open(headers, document_number=number)
    decide(first.json["id"], "rejected", reason="证件照片不清晰")
    again = window.open(headers, document_number=number)
    assert again.status_code == 201
    assert count(Learner) == 1 and count(Application) == 2


def test_lower_case_x_is_normalised(window: Window) -> None:
    number = next(
        resident_id(seq=f"{i:03d}")
        for i in range(1000)
        if resident_id(seq=f"{i:03d}").endswith("X")
    )
    headers = window.token()
    assert window.open(headers, document_number=number.lower()).status_code == 201
    assert window.open(headers, document_number=number).status_code == 409


GOOD = resident_id()


def wrong_check_character(number: str) -> str:
    return number[:-1] + ("0" if number[-1] != "0" else "1")


@pytest.mark.parametrize(
    ("override", "field", "reason"),
    [
        ({"document_number": wrong_check_character(GOOD)}, "document_number", "check character"),
        ({"document_number": "33010219900230" + "1234"}, "document_number", ""),
        ({"document_number": "３３０１０２１９９００３０７１２３４"}, "document_number", "ASCII"),
        (
            {"document_number": GOOD, "gender": "female" if int(GOOD[16]) % 2 else "male"},
            "gender",
            "agree",
        ),
        ({"document_number": GOOD, "birth_date": "1991-01-01"}, "birth_date", "agree"),
        ({"phone": "12345678901"}, "phone", ""),
        ({"name": "Zhang三"}, "name", ""),
    ],
    ids=[
        "wrong-check-character",
        "impossible-date",
        "full-width-digits",
        "gender-disagrees",
        "birth-date-disagrees",
        "not-a-mobile",
        "mixed-script-name",
    ],
)
def test_identity_refusals_name_the_field(
    window: Window, override: dict[str, str], field: str, reason: str
) -> None:
    r = window.open(window.token(), **override)
    assert r.status_code == 422, (override, r.json)
    reasons = {e["field"]: e["reason"] for e in r.json["errors"]}
    assert field in reasons and reason in reasons[field], (override, reasons)
    assert count(Learner) == count(Application) == count(Outbox) == 0


@pytest.mark.parametrize(
    "caller",
    [
        {"state": "ACTIVE"},
        {"roles": ("management",)},
        {"unit": "S001", "path": "/ZJ/B01/S001/", "level": "subcentre", "state": None},
    ],
    ids=["point-not-operating", "not-service-staff", "not-a-point"],
)
def test_only_service_staff_of_an_operating_point_take_applications(
    window: Window, caller: dict[str, Any]
) -> None:
    details = window.learner()
    r = window.client.post("/api/v1/accounts", headers=window.token(**caller), json=details)
    assert r.status_code == 403, r.json
    assert count(Learner) == count(Application) == count(Outbox) == 0
    # The same opening at an OPERATING point's window, by its service staff, is taken.
    r = window.client.post("/api/v1/accounts", headers=window.token(), json=details)
    assert r.status_code == 201, r.json


def test_passport_holder_without_birth_date_in_number(window: Window) -> None:
    r = window.open(
        window.token(), document_type="passport", document_number="e12345678", name="John O'Brien"
    )
    assert r.status_code == 201, r.json
    assert r.json["learner"]["document_type"] == "passport"
    assert r.json["learner"]["birth_date"] is None


def test_the_same_opening_sent_twice_at_once_is_one_application(
    window: Window, intake_app: Any
) -> None:
    """A double click: the second request arrives while the first is still writing. It
    waits on the first's learner row, and gets the first's answer, not a conflict."""
    import threading

    headers = {**window.token(), "Idempotency-Key": "double-click-1"}
    body = window.learner()
    answers: list[Any] = []

    def send() -> None:
        with intake_app.app_context():
            answers.append(
                intake_app.test_client().post("/api/v1/accounts", headers=headers, json=body)
            )

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(a.status_code for a in answers) == [201, 201]
    assert answers[0].json["id"] == answers[1].json["id"]
    assert count(Application) == 1
