"""Deposits with evidence, idempotency, withdrawal, return and resubmission, the ledger."""

from __future__ import annotations

import io
from typing import Any

import pytest
from sqlalchemy import select

from services.intake.context import db
from services.intake.models import Application, ApplicationVersion, LedgerEntry, Outbox
from tests.factories import PDF, Window, decide
from tests.intake.conftest import count


def deposit(window: Window, headers, account, evidence, key=None, **outcome):
    extra = {"Idempotency-Key": key} if key else {}
    return window.client.post(
        "/api/v1/applications",
        headers={**headers, **extra},
        json=window.deposit_body(account, evidence, **outcome),
    )


def test_deposit_approved_is_posted_once_to_the_ledger(window: Window) -> None:
    headers = window.token()
    account = window.open_account(headers)
    evidence = [window.upload(headers)]
    r = deposit(window, headers, account, evidence)
    assert r.status_code == 201, r.json
    app_id = r.json["id"]
    assert r.json["data"]["hours"] == "48.00" and r.json["attachments"] == evidence
    assert decide(app_id, "passed_up", unit=("AP000001", "社区学校")) == "passed_up"
    message = "6f2b1c1e-0000-4000-8000-000000000001"
    sub = ("S001", "上城区分中心")
    assert decide(app_id, "approved", level="subcentre", message_id=message, unit=sub) == "approved"
    assert decide(app_id, "approved", level="subcentre", message_id=message) == "duplicate"
    assert count(LedgerEntry) == 1
    got = window.client.get(f"/api/v1/accounts/{account}", headers=headers).json
    assert got["balances"] == [
        {"outcome_kind": "social_training", "credits": "0.00", "hours": "48.00", "entries": 1}
    ]
    ledger = window.client.get(f"/api/v1/accounts/{account}/ledger", headers=headers).json
    assert ledger["total"] == 1 and ledger["items"][0]["description"] == "电工初级培训"
    timeline = window.client.get(f"/api/v1/applications/{app_id}", headers=headers).json
    assert [
        (e["type"], e["level"], e["unit_code"], e["unit_name"]) for e in timeline["timeline"]
    ] == [
        ("taken", None, "AP000001", "AP000001的名称"),  # the point, as its clerk's token names it
        ("passed_up", "acceptance_point", "AP000001", "社区学校"),
        ("approved", "subcentre", "S001", "上城区分中心"),
    ]


def test_idempotency_key_returns_the_first_answer(window: Window) -> None:
    headers = window.token()
    account = window.open_account(headers)
    evidence = [window.upload(headers)]
    body = window.deposit_body(account, evidence)
    h = {**headers, "Idempotency-Key": "window-7-0001"}
    first = window.client.post("/api/v1/applications", headers=h, json=body)
    again = window.client.post("/api/v1/applications", headers=h, json=body)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotency-Replayed"] == "true"
    assert again.json == first.json
    assert count(Application) == 2  # the opening and one deposit


def test_the_same_idempotency_key_with_another_body_is_422(window: Window) -> None:
    headers = window.token()
    account = window.open_account(headers)
    evidence = [window.upload(headers)]
    body = window.deposit_body(account, evidence)
    h = {**headers, "Idempotency-Key": "window-7-0001"}
    assert window.client.post("/api/v1/applications", headers=h, json=body).status_code == 201
    other = {**body, "outcome": {**body["outcome"], "hours": "12"}}
    r = window.client.post("/api/v1/applications", headers=h, json=other)
    assert r.status_code == 422 and r.json["errors"][0]["field"] == "Idempotency-Key"
    assert count(Application) == 2


@pytest.mark.parametrize(
    ("override", "outcome", "field"),
    [
        ({"outcome_kind": "magic"}, {}, "outcome_kind"),
        ({"attachments": []}, {}, "attachments"),
        ({"attachments": ["0" * 64]}, {}, "attachments.0"),
        ({"outcome": {"organiser": "x"}}, {}, "outcome.programme"),
        ({}, {"hours": "-3"}, "outcome.hours"),
        ({}, {"end_date": "2026-02-01"}, "outcome.end_date"),
        ({}, {"start_date": "2099-01-01"}, "outcome.start_date"),
        ({"kind": "conversion"}, {}, "kind"),
    ],
    ids=[
        "unknown-outcome-kind",
        "no-evidence",
        "evidence-not-uploaded",
        "outcome-incomplete",
        "negative-hours",
        "end-before-start",
        "start-in-the-future",
        "unknown-kind",
    ],
)
def test_deposit_refusals_name_field_and_reason(
    window: Window, override: dict[str, Any], outcome: dict[str, str], field: str
) -> None:
    headers = window.token()
    account = window.open_account(headers)
    evidence = [window.upload(headers)]
    before = (count(Application), count(Outbox))
    body = {**window.deposit_body(account, evidence, **outcome), **override}
    r = window.client.post("/api/v1/applications", headers=headers, json=body)
    assert r.status_code == 422, (override, r.json)
    assert field in {e["field"] for e in r.json["errors"]}, (override, r.json)
    assert (count(Application), count(Outbox)) == before


def test_a_deposit_into_an_account_number_not_issued_is_404(window: Window) -> None:
    headers = window.token()
    pending = window.open(headers)  # an account in opening has no number yet
    evidence = [window.upload(headers)]
    before = count(Application), count(Outbox)
    r = deposit(window, headers, "ZJ202600009999", evidence)
    assert r.status_code == 404
    assert pending.status_code == 201
    assert (count(Application), count(Outbox)) == before


def test_a_deposit_into_an_account_outside_the_callers_subtree_is_404(window: Window) -> None:
    headers = window.token()
    evidence = [window.upload(headers)]
    account = window.open_account(headers)
    other = window.token("AP000002", "/ZJ/B02/S014/AP000002/")
    before = count(Application), count(Outbox)
    assert deposit(window, other, account, evidence).status_code == 404
    assert (count(Application), count(Outbox)) == before
    # Within the account's subtree the same deposit is taken.
    assert deposit(window, headers, account, evidence).status_code == 201


def upload(window: Window, headers: dict[str, str], content: bytes, name: str) -> Any:
    return window.client.post(
        "/api/v1/attachments",
        headers=headers,
        data={"file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
    )


def test_the_same_evidence_twice_is_kept_once(window: Window) -> None:
    headers = window.token()
    first = upload(window, headers, PDF, "a.pdf")
    again = upload(window, headers, PDF, "renamed.pdf")
    assert first.status_code == 201 and again.status_code == 200
    assert first.json["sha256"] == again.json["sha256"]
    assert first.json["content_type"] == "application/pdf"


def test_evidence_is_recognised_by_its_content_not_its_name(window: Window) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 100
    r = upload(window, window.token(), png, "scan.pdf")
    assert r.json["content_type"] == "image/png"


def test_evidence_that_is_not_pdf_jpeg_or_png_is_415(window: Window) -> None:
    r = upload(window, window.token(), b"just text, named pdf", "fake.pdf")
    assert r.status_code == 415 and r.json["errors"][0]["field"] == "file"


def test_evidence_over_10_mb_is_413(window: Window) -> None:
    big = PDF + b"\0" * (10 * 1024 * 1024)
    r = upload(window, window.token(), big, "big.pdf")
    assert r.status_code == 413


def test_an_upload_without_a_file_is_422(window: Window) -> None:
    r = window.client.post("/api/v1/attachments", headers=window.token(), json={"file": "x"})
    assert r.status_code == 422


def test_returned_application_is_corrected_and_resubmitted(window: Window) -> None:
    headers = window.token()
    account = window.open_account(headers)
    evidence = [window.upload(headers)]
    r = deposit(window, headers, account, evidence, hours="400")
    app_id = r.json["id"]
    decide(app_id, "returned", reason="学时与证书不符")
    body = window.deposit_body(account, evidence, hours="40")
    r = window.client.post(
        f"/api/v1/applications/{app_id}/resubmit",
        headers=headers,
        json={k: body[k] for k in ("outcome_kind", "outcome", "attachments")},
    )
    assert r.status_code == 200, r.json
    assert r.json["status"] == "in_review" and r.json["round"] == 2 and r.json["version"] == 2
    assert [v["data"]["hours"] for v in r.json["versions"]] == ["400.00", "40.00"]
    assert [e["type"] for e in r.json["timeline"]] == ["taken", "returned", "resubmitted"]
    assert decide(app_id, "approved", round_=1) == "stale"  # a decision of the old round
    with db.transaction() as session:
        rounds = [
            o.payload["round"]
            for o in session.scalars(
                select(Outbox)
                .where(Outbox.task_name == "review.open_case")
                .order_by(Outbox.created_at)
            )
        ]
        assert rounds[-2:] == [1, 2]
        assert (
            len(
                session.scalars(
                    select(ApplicationVersion).where(ApplicationVersion.application_id == app_id)
                ).all()
            )
            == 2
        )


def test_an_application_in_review_cannot_be_resubmitted(window: Window) -> None:
    headers = window.token()
    account = window.open_account(headers)
    evidence = [window.upload(headers)]
    r = deposit(window, headers, account, evidence, hours="400")
    app_id = r.json["id"]
    decide(app_id, "returned", reason="学时与证书不符")
    body = window.deposit_body(account, evidence, hours="40")
    corrected = {k: body[k] for k in ("outcome_kind", "outcome", "attachments")}
    r = window.client.post(
        f"/api/v1/applications/{app_id}/resubmit", headers=headers, json=corrected
    )
    assert r.status_code == 200, r.json
    r2 = window.client.post(
        f"/api/v1/applications/{app_id}/resubmit", headers=headers, json=corrected
    )
    assert r2.status_code == 409 and r2.json["current_state"] == "in_review"


def test_a_withdrawal_tells_review_and_a_late_decision_changes_nothing(window: Window) -> None:
    headers = window.token()
    account = window.open_account(headers)
    evidence = [window.upload(headers)]
    app_id = deposit(window, headers, account, evidence).json["id"]
    r = window.client.post(
        f"/api/v1/applications/{app_id}/withdraw", headers=headers, json={"reason": "学员申请撤回"}
    )
    assert r.status_code == 200 and r.json["status"] == "withdrawn"
    with db.transaction() as session:
        assert session.scalars(
            select(Outbox.task_name).where(Outbox.task_name == "review.withdraw_application")
        ).all()
    assert decide(app_id, "approved") == "stale"
    assert count(LedgerEntry) == 0


def test_a_withdrawn_application_cannot_be_withdrawn_again(window: Window) -> None:
    headers = window.token()
    account = window.open_account(headers)
    app_id = deposit(window, headers, account, [window.upload(headers)]).json["id"]
    url = f"/api/v1/applications/{app_id}/withdraw"
    assert (
        window.client.post(url, headers=headers, json={"reason": "学员申请撤回"}).status_code == 200
    )
    r = window.client.post(url, headers=headers, json={"reason": "again"})
    assert r.status_code == 409 and r.json["current_state"] == "withdrawn"


@pytest.fixture
def two_points(window: Window) -> dict[str, Any]:
    """An opening taken at AP000001 (in S001, Hangzhou) and one at AP000002 (in S014, Ningbo);
    the callers' headers."""
    mine, theirs = window.token(), window.token("AP000002", "/ZJ/B02/S014/AP000002/")
    return {
        "mine": mine,
        "a": window.open(mine).json["id"],
        "b": window.open(theirs).json["id"],
        "subcentre": window.token("S001", "/ZJ/B01/S001/", "subcentre", ("reviewer",), None),
        "province": window.token("ZJ", "/ZJ/", "province", ("admin",), None),
    }


def test_an_application_outside_the_callers_subtree_is_404(window: Window, two_points) -> None:
    a, b, mine = two_points["a"], two_points["b"], two_points["mine"]
    assert window.client.get(f"/api/v1/applications/{b}", headers=mine).status_code == 404
    assert window.client.get(f"/api/v1/applications/{a}", headers=mine).status_code == 200


def test_the_list_holds_the_callers_subtree_only(window: Window, two_points) -> None:
    listed = window.client.get("/api/v1/applications", headers=two_points["subcentre"]).json
    assert [x["id"] for x in listed["items"]] == [two_points["a"]]


def test_applications_are_listed_by_kind(window: Window, two_points) -> None:
    province = two_points["province"]
    listed = window.client.get("/api/v1/applications?kind=account_opening", headers=province).json
    assert listed["total"] == 2


def test_an_unknown_status_filter_is_422(window: Window, two_points) -> None:
    r = window.client.get("/api/v1/applications?status=flying", headers=two_points["province"])
    assert r.status_code == 422


def test_a_unit_filter_takes_what_was_taken_beneath_the_unit(window: Window, two_points) -> None:
    a, b, province = two_points["a"], two_points["b"], two_points["province"]
    for unit, expected in (("B02", [b]), ("S014", [b]), ("AP000001", [a])):
        listed = window.client.get(f"/api/v1/applications?unit_code={unit}", headers=province)
        assert [x["id"] for x in listed.json["items"]] == expected


def test_a_unit_filter_outside_the_subtree_is_404(window: Window, two_points) -> None:
    r = window.client.get("/api/v1/applications?unit_code=S014", headers=two_points["subcentre"])
    assert r.status_code == 404 and r.json["detail"] == "unit S014 not found"
    r = window.client.get("/api/v1/applications?unit_code=S001", headers=two_points["subcentre"])
    assert r.status_code == 200 and [x["id"] for x in r.json["items"]] == [two_points["a"]]


def test_a_unit_filter_naming_a_unit_that_took_nothing_is_404(window: Window, two_points) -> None:
    r = window.client.get("/api/v1/applications?unit_code=S099", headers=two_points["province"])
    assert r.status_code == 404  # no such unit has taken anything


@pytest.mark.parametrize(
    "statement", ["UPDATE ledger_entries SET hours = 999", "DELETE FROM ledger_entries"]
)
def test_the_ledger_refuses_changes(window: Window, statement: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    headers = window.token()
    account = window.open_account(headers)
    app_id = deposit(window, headers, account, [window.upload(headers)]).json["id"]
    decide(app_id, "approved")
    with pytest.raises(DBAPIError, match="append-only"), db.transaction() as session:
        session.execute(text(statement))
    assert count(LedgerEntry) == 1
