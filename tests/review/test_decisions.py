"""Claims and decisions over the API: the rules that cannot be broken, and the messages that
carry an application up the tree or back to intake."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from services.review.context import worker_db
from services.review.models import Case, Outbox
from tests.review.conftest import opened


def status_of(case: Case) -> tuple[str, str | None, int | None]:
    """A case's status, decision and claimer, as stored now."""
    with worker_db().transaction() as session:
        stored = session.get_one(Case, case.id)
        decision = stored.decision.value if stored.decision else None
        return stored.status.value, decision, stored.claimed_by_id


def outbox_messages() -> list[tuple[str, str, dict]]:
    with worker_db().transaction() as session:
        rows = session.scalars(select(Outbox).order_by(Outbox.created_at)).all()
        return [(r.task_name, r.queue, r.payload) for r in rows]


POINT = ("AP000001", "/ZJ/B01/S001/AP000001/", "acceptance_point")


def decide(client, case, headers, decision: str = "approve", reason: str | None = None):
    body = {"decision": decision, **({"reason": reason} if reason else {})}
    return client.post(f"/api/v1/cases/{case.id}/decision", headers=headers, json=body)


def test_the_inbox_holds_the_cases_of_my_unit_only(client, token) -> None:
    case = opened()
    point = token(*POINT)
    inbox = client.get("/api/v1/inbox", headers=point).json
    assert inbox["pending"] == 1 and inbox["items"][0]["id"] == str(case.id)
    assert (
        client.get(
            "/api/v1/inbox", headers=token("AP000002", "/ZJ/B01/S001/AP000002/", "acceptance_point")
        ).json["total"]
        == 0
    )


def test_a_claimed_case_is_decided_by_its_claimer_only(client, token) -> None:
    case = opened()
    point = token(*POINT)
    r = client.post(f"/api/v1/cases/{case.id}/claim", headers=point)
    assert r.status_code == 200 and r.json["status"] == "claimed"
    other = token(*POINT)
    r = decide(client, case, other)
    assert r.status_code == 409  # claimed by the first reviewer
    r = decide(client, case, point)
    assert r.status_code == 200 and r.json["decision"] == "approve"


def test_a_decided_case_cannot_be_decided_again(client, token) -> None:
    case = opened()
    point = token(*POINT)
    assert decide(client, case, point).status_code == 200
    r = decide(client, case, point, "reject", "x")
    assert r.status_code == 409 and r.json["current_state"] == "decided"


def test_approval_below_the_top_level_passes_the_application_up(client, token) -> None:
    case = opened()
    assert decide(client, case, token(*POINT)).status_code == 200
    sent = outbox_messages()
    assert [(t, q) for t, q, _ in sent] == [
        ("review.open_case", "review.subcentre"),
        ("intake.apply_decision", "intake"),
    ]
    assert sent[0][2]["unit_path"] == "/ZJ/B01/S001/AP000001/"
    assert sent[1][2]["outcome"] == "passed_up"


def test_last_level_approval_is_final_for_intake(client, token) -> None:
    case = opened(level="subcentre")
    sub = token("S001", "/ZJ/B01/S001/", "subcentre", name="上城区分中心")
    r = client.post(f"/api/v1/cases/{case.id}/decision", headers=sub, json={"decision": "approve"})
    assert r.status_code == 200
    (intake, notify) = outbox_messages()
    assert intake[:2] == ("intake.apply_decision", "intake")
    assert intake[2]["outcome"] == "approved"
    # the unit that decided, named as its reviewer's token named it (a certificate says so)
    assert (intake[2]["unit_code"], intake[2]["unit_name"]) == ("S001", "上城区分中心")
    assert notify[:2] == ("notify.deliver", "notify")
    assert notify[2]["event_type"] == "review.application_decided"
    assert notify[2]["unit_code"] == "AP000001"  # the point that took it tells the learner
    assert notify[2]["data"]["outcome"] == "approved" and "reason" not in notify[2]["data"]


def test_the_reviewer_who_took_the_application_cannot_decide_it(client, token) -> None:
    case = opened(taken_by_id=42)
    taker = token(*POINT, staff_id=42)
    r = decide(client, case, taker)
    assert r.status_code == 403 and "took the application" in r.json["detail"]
    assert status_of(case) == ("pending", None, None) and outbox_messages() == []
    # Another reviewer of the point decides it.
    assert decide(client, case, token(*POINT)).status_code == 200


@pytest.mark.parametrize("decision", ["reject", "return"])
def test_a_rejection_or_a_return_needs_a_reason(client, token, decision: str) -> None:
    case = opened()
    r = decide(client, case, token(*POINT), decision)
    assert r.status_code == 422 and r.json["errors"][0]["field"] == "reason"
    assert status_of(case) == ("pending", None, None) and outbox_messages() == []


def test_a_case_of_another_unit_is_404(client, token) -> None:
    case = opened()
    elsewhere = token("S001", "/ZJ/B01/S001/", "subcentre")
    assert client.post(f"/api/v1/cases/{case.id}/claim", headers=elsewhere).status_code == 404
    assert status_of(case) == ("pending", None, None)
    assert client.post(f"/api/v1/cases/{case.id}/claim", headers=token(*POINT)).status_code == 200


def test_only_reviewers_claim_cases(client, token) -> None:
    case = opened()
    clerk = token(*POINT, roles=("service",))
    assert client.post(f"/api/v1/cases/{case.id}/claim", headers=clerk).status_code == 403
    assert status_of(case) == ("pending", None, None)
    assert client.post(f"/api/v1/cases/{case.id}/claim", headers=token(*POINT)).status_code == 200


def test_one_person_decides_one_level_of_an_application_only(client, token) -> None:
    case = opened(taken_by_id=42)
    same = 77
    point_reviewer = token("AP000001", "/ZJ/B01/S001/AP000001/", "acceptance_point", same)
    assert (
        client.post(
            f"/api/v1/cases/{case.id}/decision",
            headers=point_reviewer,
            json={"decision": "approve"},
        ).status_code
        == 200
    )
    upper = opened(level="subcentre", application_id=str(case.application_id), taken_by_id=42)
    as_subcentre = token("S001", "/ZJ/B01/S001/", "subcentre", same)
    r = client.post(
        f"/api/v1/cases/{upper.id}/decision", headers=as_subcentre, json={"decision": "approve"}
    )
    assert r.status_code == 403 and "already" in r.json["detail"]
    assert status_of(upper) == ("pending", None, None)
    # Another reviewer of the sub-centre decides it.
    other = token("S001", "/ZJ/B01/S001/", "subcentre")
    assert decide(client, upper, other).status_code == 200


def test_return_and_reject_go_back_to_intake_with_the_reason(client, token) -> None:
    returned, rejected = opened(), opened()
    point = token("AP000001", "/ZJ/B01/S001/AP000001/", "acceptance_point")
    client.post(
        f"/api/v1/cases/{returned.id}/decision",
        headers=point,
        json={"decision": "return", "reason": "学时与证书不符"},
    )
    client.post(
        f"/api/v1/cases/{rejected.id}/decision",
        headers=point,
        json={"decision": "reject", "reason": "证书无法核验"},
    )
    sent = outbox_messages()
    outcomes = [(p["outcome"], p["reason"]) for t, _, p in sent if t.startswith("in")]
    assert outcomes == [("returned", "学时与证书不符"), ("rejected", "证书无法核验")]
    told = [(p["data"]["outcome"], p["data"]["reason"]) for t, _, p in sent if t.startswith("no")]
    assert told == [("returned", "学时与证书不符"), ("rejected", "证书无法核验")]


def test_claims_releases_and_decisions_are_audited(client, token) -> None:
    case = opened()
    point = token(*POINT)
    client.post(f"/api/v1/cases/{case.id}/claim", headers=point)
    client.post(f"/api/v1/cases/{case.id}/release", headers=point)
    client.post(f"/api/v1/cases/{case.id}/decision", headers=point, json={"decision": "approve"})
    with worker_db().transaction() as session:
        actions = session.scalars(text("SELECT action FROM audit_records ORDER BY id")).all()
    assert actions == ["claim", "release", "decide"]


def test_the_audit_record_is_append_only(client, token) -> None:
    case = opened()
    client.post(f"/api/v1/cases/{case.id}/claim", headers=token(*POINT))
    with pytest.raises(DBAPIError, match="append-only"), worker_db().transaction() as session:
        session.execute(text("DELETE FROM audit_records"))
