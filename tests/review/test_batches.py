"""An import reviewed as one batch per level: its figures shown, checked on arrival, approved
less chosen rows (each with a reason) or rejected whole, never returned. No learner is named
in review: the sample rows are read from intake, masked."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from services.review.context import worker_db
from services.review.models import Case, Outbox
from shared import contracts
from tests.review.conftest import opened


def batch(**overrides: Any) -> dict[str, Any]:
    summary = {
        "import_id": str(uuid.uuid4()),
        "rows_total": 120,
        "records": 100,
        "invalid": 15,
        "duplicate": 5,
        "accounts_opened": 90,
        "hours_total": "4800.00",
        "record_rows": [[2, 51], [60, 109]],
    }
    summary.update(overrides)
    return summary


def batch_case(level: str = "acceptance_point", **overrides: Any) -> Case:
    return opened(
        level=level,
        kind="import",
        hours=None,
        certificate_number=None,
        attachments=[],
        batch=batch(**overrides),
    )


def sent(task: str) -> list[dict[str, Any]]:
    with worker_db().transaction() as session:
        return list(
            session.scalars(
                select(Outbox.payload).where(Outbox.task_name == task).order_by(Outbox.created_at)
            )
        )


def test_a_batch_case_shows_its_figures_and_is_checked(client, token) -> None:
    case = batch_case()
    point = token("AP000001", "/ZJ/B01/S001/AP000001/", "acceptance_point")
    got = client.get(f"/api/v1/cases/{case.id}", headers=point).json
    assert got["kind"] == "import" and got["top_level"] == "subcentre"
    assert got["batch"]["records"] == 100 and "samples" not in got["batch"]
    checks = {c["check"]: c for c in got["checks"]}
    assert all(c["passed"] for c in checks.values()), checks
    assert checks["batch_adds_up"]["detail"].startswith("120 rows: 100 records")


def test_a_batch_whose_figures_do_not_add_up_is_flagged() -> None:
    wrong = batch_case(rows_total=130)
    (adds_up,) = [c for c in wrong.checks if c["check"] == "batch_adds_up"]
    assert adds_up == {
        "check": "batch_adds_up",
        "passed": False,
        "detail": "120 rows accounted for of 130",
    }


def test_approving_less_rejected_rows_passes_them_up_and_tells_intake(client, token) -> None:
    case = batch_case()
    point = token("AP000001", "/ZJ/B01/S001/AP000001/", "acceptance_point")
    rejected = [{"row": 7, "reason": "证书无法核实"}, {"row": 60, "reason": "学时不符"}]
    r = client.post(
        f"/api/v1/cases/{case.id}/decision",
        headers=point,
        json={"decision": "approve", "rejected_rows": rejected},
    )
    assert r.status_code == 200, r.json
    assert r.json["rejected_rows"] == rejected
    (up,) = sent("review.open_case")
    (told,) = sent("intake.apply_decision")
    contracts.check("review.open_case", up)
    contracts.check("intake.apply_decision", told)
    assert up["batch"]["records"] == 100 and up["level"] == "subcentre"
    assert told["outcome"] == "passed_up" and told["rejected_rows"] == rejected
    # The sub-centre finishes it: its rows (none) and the final word go to intake.
    with worker_db().transaction() as session:
        from services.review import cases
        from services.review.context import worker_context

        following = cases.open_case(
            session, worker_context(), contracts.load("review.open_case", up)
        )
        assert following is not None
        following_id = following.id
    sub = token("S001", "/ZJ/B01/S001/", "subcentre")
    r = client.post(
        f"/api/v1/cases/{following_id}/decision", headers=sub, json={"decision": "approve"}
    )
    assert r.status_code == 200, r.json
    final = sent("intake.apply_decision")[-1]
    assert final["outcome"] == "approved" and "final" not in final
    assert final["rejected_rows"] == []


POINT = ("AP000001", "/ZJ/B01/S001/AP000001/", "acceptance_point")


def test_rows_that_cannot_be_rejected_are_named(client, token) -> None:
    case = batch_case()
    point = token(*POINT)
    url = f"/api/v1/cases/{case.id}/decision"
    r = client.post(
        url,
        headers=point,
        json={
            "decision": "approve",
            "rejected_rows": [
                {"row": 55, "reason": "x"},
                {"row": 7, "reason": "y"},
                {"row": 7, "reason": "z"},
            ],
        },
    )
    assert r.status_code == 422
    assert [(e["field"], e["reason"]) for e in r.json["errors"]] == [
        ("rejected_rows.0.row", "row 55 is not a record of this batch"),
        ("rejected_rows.2.row", "row 7 is named twice"),
    ]
    assert sent("intake.apply_decision") == []  # nothing half-decided


def test_a_batch_cannot_be_returned(client, token) -> None:
    url = f"/api/v1/cases/{batch_case().id}/decision"
    point = token(*POINT)
    r = client.post(url, headers=point, json={"decision": "return", "reason": "请更正"})
    assert r.status_code == 422 and r.json["errors"][0]["field"] == "decision"
    assert sent("intake.apply_decision") == []  # nothing half-decided


def test_a_batch_rejected_whole_names_no_rows(client, token) -> None:
    url = f"/api/v1/cases/{batch_case().id}/decision"
    point = token(*POINT)
    r = client.post(
        url,
        headers=point,
        json={
            "decision": "reject",
            "reason": "机构资质",
            "rejected_rows": [{"row": 7, "reason": "x"}],
        },
    )
    assert r.status_code == 422 and r.json["errors"][0]["field"] == "rejected_rows"
    assert sent("intake.apply_decision") == []  # nothing half-decided


def test_each_rejected_row_needs_a_reason(client, token) -> None:
    url = f"/api/v1/cases/{batch_case().id}/decision"
    point = token(*POINT)
    r = client.post(url, headers=point, json={"decision": "approve", "rejected_rows": [{"row": 7}]})
    assert r.status_code == 422 and r.json["errors"][0]["field"] == "rejected_rows.0.reason"
    assert sent("intake.apply_decision") == []  # nothing half-decided


def test_a_single_application_has_no_rows_to_reject(client, token) -> None:
    point = token(*POINT)
    single = opened()
    r = client.post(
        f"/api/v1/cases/{single.id}/decision",
        headers=point,
        json={"decision": "approve", "rejected_rows": [{"row": 7, "reason": "x"}]},
    )
    assert r.status_code == 422 and r.json["errors"][0]["field"] == "rejected_rows"
    assert sent("intake.apply_decision") == []  # nothing half-decided


def test_a_batch_rejected_whole_with_a_reason_tells_intake(client, token) -> None:
    url = f"/api/v1/cases/{batch_case().id}/decision"
    point = token(*POINT)
    r = client.post(url, headers=point, json={"decision": "reject", "reason": "机构资质不符"})
    assert r.status_code == 200
    (told,) = sent("intake.apply_decision")
    assert told["outcome"] == "rejected"
