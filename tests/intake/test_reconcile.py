"""Intake's half of reconciliation: every application in review unchanged for the grace
period goes to review again, as it was first handed over, in batches; nothing else does."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from services.intake import reconcile
from services.intake.context import db
from services.intake.models import Application, Outbox
from tests.factories import decide


def outbox(task: str) -> list[dict]:
    with db.transaction() as session:
        rows = session.scalars(
            select(Outbox).where(Outbox.task_name == task).order_by(Outbox.created_at)
        )
        return [r.payload for r in rows]


def age(application_id: str, by: timedelta) -> None:
    with db.transaction() as session:
        session.execute(
            update(Application)
            .where(Application.id == application_id)
            .values(updated_at=Application.updated_at - by)
        )


def test_applications_long_in_review_are_sent_as_first_handed_over(window, monkeypatch) -> None:
    headers = window.token()
    account = window.open_account(headers)
    sha = window.upload(headers)
    ids = []
    for _ in range(3):
        r = window.client.post(
            "/api/v1/applications", headers=headers, json=window.deposit_body(account, [sha])
        )
        assert r.status_code == 201, r.json
        ids.append(r.json["id"])
    fresh = window.client.post(
        "/api/v1/applications", headers=headers, json=window.deposit_body(account, [sha])
    ).json["id"]
    decided = ids.pop()
    decide(decided, "rejected", reason="证书无法核验")  # no longer in review
    for application_id in [*ids, decided]:
        age(application_id, timedelta(minutes=10))
    handed = {p["application_id"]: p for p in outbox("review.open_case")}

    monkeypatch.setattr(reconcile, "BATCH", 1)  # one application per message, to see batching
    with db.transaction() as session:
        assert reconcile.send_for_reconciliation(session, timedelta(minutes=5)) == 2
    batches = outbox("review.reconcile")
    assert [len(b["applications"]) for b in batches] == [1, 1]
    sent = {a["application_id"]: a for b in batches for a in b["applications"]}
    assert set(sent) == set(ids)  # not the fresh one, not the decided one
    assert fresh not in sent
    for application_id, request in sent.items():
        first = {k: v for k, v in handed[application_id].items() if k != "message_id"}
        assert request == {**first, "withdrawn": False}
        assert request["dates"] == {"start_date": "2026-03-01", "end_date": "2026-03-20"}
        assert request["hours"] == "48.00"


def test_a_recent_withdrawal_is_told_again_an_old_one_not(window) -> None:
    headers = window.token()
    account = window.open_account(headers)
    sha = window.upload(headers)
    ids = []
    for _ in range(2):
        r = window.client.post(
            "/api/v1/applications", headers=headers, json=window.deposit_body(account, [sha])
        )
        ids.append(r.json["id"])
        r = window.client.post(
            f"/api/v1/applications/{r.json['id']}/withdraw",
            headers=headers,
            json={"reason": "学员申请撤回"},
        )
        assert r.status_code == 200, r.json
    recent, old = ids
    with db.transaction() as session:
        for application_id, ago in ((recent, timedelta(minutes=10)), (old, timedelta(days=2))):
            session.execute(
                update(Application)
                .where(Application.id == application_id)
                .values(final_at=Application.final_at - ago)
            )
    with db.transaction() as session:
        assert reconcile.send_for_reconciliation(session, timedelta(minutes=5)) == 1
    (batch,) = outbox("review.reconcile")
    (item,) = batch["applications"]
    assert item["application_id"] == recent and item["withdrawn"] is True
