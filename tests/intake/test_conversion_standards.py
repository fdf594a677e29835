"""Conversion standards over intake's API: the catalogue kept by the provincial centre, a
standard drafted, checked whole when published, never changed once published, superseded by a
new version, retired; the version in force on a day; who may read and who may keep them."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from services.intake.context import db
from services.intake.conversion import sample
from services.intake.conversion.models import AuditRecord, ConversionRule
from tests.factories import (
    BRANCH_ADMIN,
    CERTIFICATE_RULE,
    TRAINING_RULE,
    Conversions,
    Window,
)

STANDARDS = "/api/v1/conversion-standards"


@pytest.fixture
def conv(window: Window) -> Conversions:
    conversions = Conversions(window)
    conversions.catalogue()
    return conversions


def errors(response: Any) -> dict[str, str]:
    return {e["field"]: e["reason"] for e in response.json["errors"]}


def audit_actions() -> list[str]:
    with db.transaction() as session:
        return list(session.scalars(select(AuditRecord.action).order_by(AuditRecord.id)))


def test_the_catalogue_is_kept_by_the_provincial_centre_and_read_by_anyone(
    window: Window, conv: Conversions
) -> None:
    clerk = window.token()
    body = {"name": "物联网", "outcome_kind": "skill_certificate"}
    refused = window.client.put("/api/v1/catalogue/certificates/C-IOT", headers=clerk, json=body)
    assert refused.status_code == 403
    branch = window.client.put(
        "/api/v1/catalogue/certificates/C-IOT", headers=window.token(*BRANCH_ADMIN), json=body
    )
    assert branch.status_code == 403
    read = window.client.get("/api/v1/catalogue", headers=clerk).json
    assert "C-IOT" not in {c["code"] for c in read["certificates"]}
    assert {c["code"] for c in read["programmes"]} == {"U1-CS", "U1-ME"}
    done = window.client.put(
        "/api/v1/catalogue/certificates/C-IOT", headers=conv.province, json=body
    )
    assert done.status_code == 200 and done.json["name"] == "物联网"
    assert audit_actions()[-1] == "catalogue.certificates.added"


def test_a_catalogue_entry_under_an_unknown_parent_or_kind_is_refused(
    window: Window, conv: Conversions
) -> None:
    orphan = window.client.put(
        "/api/v1/catalogue/programmes/X-1",
        headers=conv.province,
        json={"institution_code": "NOPE", "name": "无"},
    )
    assert orphan.status_code == 422 and errors(orphan) == {
        "institution_code": "NOPE is not in the catalogue"
    }
    kind = window.client.put(
        "/api/v1/catalogue/planets/X-1", headers=conv.province, json={"name": "无"}
    )
    assert kind.status_code == 422 and "kind" in errors(kind)
    level = window.client.put(
        "/api/v1/catalogue/certificates/X-1",
        headers=conv.province,
        json={"name": "无", "outcome_kind": "skill_certificate", "levels": ["九级"]},
    )
    assert level.status_code == 422 and "levels.0" in errors(level)
    assert (
        window.client.get("/api/v1/catalogue", headers=conv.province).json["programmes"][0]["code"]
        == "U1-CS"
    )


def test_a_standard_drafted_edited_and_published_is_in_force_and_audited(
    window: Window, conv: Conversions
) -> None:
    body = {
        "code": "STD",
        "name": "标准",
        "effective_from": "2026-01-01",
        "rules": [TRAINING_RULE],
        "caps": [{"kind": "per_year", "limit": "42", "year_starts": "03-01"}],
    }
    r = window.client.post(STANDARDS, headers=conv.province, json=body)
    assert r.status_code == 201 and r.json["in_force"] is None
    assert r.json["versions"] == [
        {"version": 1, "status": "draft", "effective_from": "2026-01-01", "effective_to": None}
    ]
    edited = window.client.put(
        f"{STANDARDS}/STD/versions/1",
        headers=conv.province,
        json={
            **{k: body[k] for k in ("effective_from", "caps")},
            "rules": [TRAINING_RULE, CERTIFICATE_RULE],
        },
    )
    assert edited.status_code == 200 and [r["number"] for r in edited.json["rules"]] == [1, 2]
    clerk = window.token()
    assert window.client.get(f"{STANDARDS}/STD", headers=clerk).status_code == 404
    published = window.client.post(f"{STANDARDS}/STD/versions/1/publish", headers=conv.province)
    assert published.status_code == 200 and published.json["status"] == "published"
    shown = window.client.get(f"{STANDARDS}/STD", headers=clerk).json
    assert shown["version"] == 1 and len(shown["rules"]) == 2
    assert shown["caps"] == [{"kind": "per_year", "limit": "42.0", "year_starts": "03-01"}]
    assert audit_actions()[-2:] == ["standard.created", "standard.published"]


def test_a_rule_set_that_contradicts_itself_is_not_published_and_each_fault_is_named(
    window: Window, conv: Conversions
) -> None:
    other_credits = {**TRAINING_RULE, "max_credits": "4"}
    unknown_certificate = {**CERTIFICATE_RULE, "catalogue_code": "C-NONE"}
    wrong_programme = {**TRAINING_RULE, "target_institution": "U1", "target_programme": "U9"}
    level_not_issued = {**CERTIFICATE_RULE, "min_level": "技师"}
    fixed_without_credits = {**CERTIFICATE_RULE, "credits": None}
    above_the_outcome_cap = {**CERTIFICATE_RULE, "credits": "9", "min_level": "高级"}
    body = {
        "code": "BAD",
        "name": "有矛盾的标准",
        "effective_from": "2026-06-01",
        "effective_to": "2026-05-01",
        "caps": [{"kind": "per_outcome", "limit": "8"}, {"kind": "per_outcome", "limit": "6"}],
        "rules": [
            TRAINING_RULE,
            other_credits,
            unknown_certificate,
            wrong_programme,
            level_not_issued,
            fixed_without_credits,
            above_the_outcome_cap,
        ],
    }
    assert window.client.post(STANDARDS, headers=conv.province, json=body).status_code == 201
    r = window.client.post(f"{STANDARDS}/BAD/versions/1/publish", headers=conv.province)
    assert r.status_code == 422
    assert errors(r) == {
        "effective_to": "must not be before effective_from",
        "caps.1.kind": "per_outcome is declared twice",
        "rules.1": "contradicts rule 1: the same outcomes and target, other credits",
        "rules.2.catalogue_code": "C-NONE is not a certificate of the catalogue",
        "rules.3.target_programme": "not a programme of that institution",
        "rules.3.target_course": "not a course of that programme",
        "rules.4.min_level": "C-WEB is issued at 初级、中级、高级, not 技师",
        "rules.5.credits": "a fixed rule gives credits above 0",
        "rules.6.credits": "gives up to 9 credits, above the per_outcome cap of 8",
    }
    still = window.client.get(f"{STANDARDS}/BAD/versions/1", headers=conv.province).json
    assert still["status"] == "draft"
    assert "standard.published" not in audit_actions()


def test_bad_rules_are_refused_when_sent_naming_the_field(
    window: Window, conv: Conversions
) -> None:
    bad = {**TRAINING_RULE, "method": "by_weight", "max_credits": "2.25", "min_level": "九级"}
    r = window.client.post(
        STANDARDS,
        headers=conv.province,
        json={"code": "X", "name": "x", "effective_from": "2026-01-01", "rules": [bad]},
    )
    assert r.status_code == 422
    assert set(errors(r)) == {"rules.0.method", "rules.0.max_credits", "rules.0.min_level"}
    assert "half credits" in errors(r)["rules.0.max_credits"]
    assert window.client.get(STANDARDS, headers=conv.province).json["items"] == []


MIB = 1024 * 1024


def rules_over(size: int) -> list[dict[str, Any]]:
    """Enough copies of one rule for a body above ``size`` bytes."""
    one = len(json.dumps(TRAINING_RULE, ensure_ascii=False).encode()) + 2
    return [TRAINING_RULE] * (size // one + 100)


def test_a_rule_set_over_1_mib_is_taken_when_created_and_when_a_draft_is_replaced(
    window: Window, conv: Conversions
) -> None:
    body = {"code": "BIG", "name": "大标准", "effective_from": "2026-01-01"}
    rules = rules_over(MIB)
    assert len(json.dumps({**body, "rules": rules}, ensure_ascii=False).encode()) > MIB
    r = window.client.post(STANDARDS, headers=conv.province, json={**body, "rules": rules})
    assert r.status_code == 201, r.json
    put = window.client.put(
        f"{STANDARDS}/BIG/versions/1",
        headers=conv.province,
        json={"effective_from": "2026-02-01", "rules": [*rules, CERTIFICATE_RULE]},
    )
    assert put.status_code == 200, put.json
    assert len(put.json["rules"]) == len(rules) + 1


def test_a_rule_set_over_8_mib_is_413_and_every_other_endpoint_keeps_1_mib(
    window: Window, conv: Conversions
) -> None:
    conv.standard()
    pad = "x" * (8 * MIB)
    over = {"code": "HUGE", "name": "超大", "effective_from": "2026-01-01", "note": pad}
    r = window.client.post(STANDARDS, headers=conv.province, json=over)
    assert r.status_code == 413 and r.json["status"] == 413
    r = window.client.put(
        f"{STANDARDS}/STD/versions/1",
        headers=conv.province,
        json={"effective_from": "2026-01-01", "note": pad},
    )
    assert r.status_code == 413
    past_1_mib = {"name": "x" * (MIB + 1)}
    for method, path in (
        ("put", "/api/v1/catalogue/institutions/U9"),
        ("post", f"{STANDARDS}/STD/versions/1/retire"),
        ("post", "/api/v1/conversions/preview"),
        ("post", "/api/v1/applications"),
    ):
        r = getattr(window.client, method)(path, headers=conv.province, json=past_1_mib)
        assert r.status_code == 413, (path, r.status_code)


def test_a_published_version_never_changes_and_an_edit_is_a_new_version(
    window: Window, conv: Conversions
) -> None:
    conv.standard(rules=[TRAINING_RULE])
    again = window.client.put(
        f"{STANDARDS}/STD/versions/1",
        headers=conv.province,
        json={"effective_from": "2026-01-01", "rules": [CERTIFICATE_RULE]},
    )
    assert again.status_code == 409 and "never changes" in again.json["detail"]
    with pytest.raises(DBAPIError, match="never change"), db.transaction() as session:
        session.execute(text("UPDATE conversion_rules SET credits = 30"))
    with pytest.raises(DBAPIError, match="never changes"), db.transaction() as session:
        session.execute(
            text("UPDATE conversion_standard_versions SET effective_from = '2020-01-01'")
        )
    draft = window.client.post(f"{STANDARDS}/STD/versions", headers=conv.province)
    assert draft.status_code == 201 and draft.json["version"] == 2
    assert [r["source"] for r in draft.json["rules"]] == ["training"]  # copied to be edited
    second = window.client.post(f"{STANDARDS}/STD/versions", headers=conv.province)
    assert second.status_code == 409
    edited = window.client.put(
        f"{STANDARDS}/STD/versions/2",
        headers=conv.province,
        json={"effective_from": "2026-07-01", "rules": [{**TRAINING_RULE, "max_credits": "4"}]},
    )
    assert edited.status_code == 200
    assert (
        window.client.post(f"{STANDARDS}/STD/versions/2/publish", headers=conv.province).status_code
        == 200
    )
    clerk = window.token()
    june = window.client.get(f"{STANDARDS}/STD?on=2026-06-30", headers=clerk).json
    july = window.client.get(f"{STANDARDS}/STD?on=2026-07-01", headers=clerk).json
    assert (june["version"], june["rules"][0]["max_credits"]) == (1, "6.0")
    assert (july["version"], july["rules"][0]["max_credits"]) == (2, "4.0")
    with db.transaction() as session:
        assert session.scalar(select(ConversionRule.max_credits).where(ConversionRule.id == 1)) == 6


def test_the_version_in_force_by_date_and_once_retired(window: Window, conv: Conversions) -> None:
    conv.standard(rules=[TRAINING_RULE], effective_from="2026-03-01")
    clerk = window.token()
    before = window.client.get(f"{STANDARDS}/STD?on=2026-02-28", headers=clerk)
    assert before.status_code == 404 and "2026-02-28" in before.json["detail"]
    assert window.client.get(f"{STANDARDS}/STD?on=2026-03-01", headers=clerk).json["version"] == 1
    bad_day = window.client.get(f"{STANDARDS}/STD?on=2026-02-30", headers=clerk)
    assert bad_day.status_code == 422 and "on" in errors(bad_day)
    retired = window.client.post(
        f"{STANDARDS}/STD/versions/1/retire", headers=conv.province, json={"reason": "已被替代"}
    )
    assert retired.status_code == 200 and retired.json["status"] == "retired"
    assert window.client.get(f"{STANDARDS}/STD", headers=clerk).status_code == 404
    # a conversion made under it before then still finds it (by its version)
    assert window.client.get(f"{STANDARDS}/STD/versions/1", headers=clerk).json["status"] == (
        "retired"
    )
    twice = window.client.post(
        f"{STANDARDS}/STD/versions/1/retire", headers=conv.province, json={"reason": "再次"}
    )
    assert twice.status_code == 409
    assert audit_actions()[-1] == "standard.retired"
    listed = window.client.get(STANDARDS, headers=clerk).json["items"]
    assert listed[0]["in_force"] is None and listed[0]["versions"][0]["status"] == "retired"


def test_standards_are_kept_by_their_publisher_only(window: Window, conv: Conversions) -> None:
    clerk = window.token()
    body = {"code": "P", "name": "p", "effective_from": "2026-01-01", "rules": [TRAINING_RULE]}
    assert window.client.post(STANDARDS, headers=clerk, json=body).status_code == 403
    subcentre_admin = window.token("S001", "/ZJ/B01/S001/", "subcentre", ("admin",), None)
    assert window.client.post(STANDARDS, headers=subcentre_admin, json=body).status_code == 403
    branch = window.token(*BRANCH_ADMIN)
    made = window.client.post(STANDARDS, headers=branch, json={**body, "code": "B01-STD"})
    assert made.status_code == 201 and made.json["publisher_code"] == "B01"
    other_branch = window.token("B02", "/ZJ/B02/", "branch", ("admin",), None)
    assert (
        window.client.post(
            f"{STANDARDS}/B01-STD/versions/1/publish", headers=other_branch
        ).status_code
        == 403
    )
    assert (
        window.client.post(
            f"{STANDARDS}/B01-STD/versions/1/publish", headers=conv.province
        ).status_code
        == 403
    )
    # its draft is shown to its publisher only
    assert (
        window.client.get(f"{STANDARDS}/B01-STD/versions/1", headers=other_branch).status_code
        == 404
    )
    assert window.client.get(f"{STANDARDS}/B01-STD/versions/1", headers=branch).status_code == 200
    taken = window.client.post(STANDARDS, headers=conv.province, json={**body, "code": "B01-STD"})
    assert taken.status_code == 409 and errors(taken) == {
        "code": "already used by another standard"
    }


def test_the_sample_seed_is_marked_and_written_once(window: Window) -> None:
    with db.transaction() as session:
        assert sample.seed(session, date(2026, 12, 1)) is True
    with db.transaction() as session:
        assert sample.seed(session, date(2026, 12, 1)) is False
    clerk = window.token()
    listed = window.client.get(STANDARDS, headers=clerk).json["items"]
    assert [(s["code"], s["in_force"]["version"]) for s in listed] == [("ZJ-SAMPLE", 1)]
    assert "示例" in listed[0]["name"]
    catalogue = window.client.get("/api/v1/catalogue", headers=clerk).json
    names = [e["name"] for kind in catalogue.values() for e in kind]
    assert names and all("示例" in name for name in names)
    assert listed[0]["in_force"]["rules"][0]["catalogue_code"] == "SAMPLE-WEB"


def test_a_branch_standard_applies_in_its_city_only(window: Window, conv: Conversions) -> None:
    branch = window.token(*BRANCH_ADMIN)
    conv.standard(rules=[TRAINING_RULE], code="B01-STD", headers=branch)
    elsewhere = window.token("AP000099", "/ZJ/B02/S010/AP000099/")
    account = window.open_account(elsewhere)
    entry = conv.outcome(elsewhere, account)
    r = window.client.post(
        "/api/v1/conversions/preview",
        headers=elsewhere,
        json=conv.body(account, [entry], standard="B01-STD"),
    )
    assert r.status_code == 422
    assert errors(r) == {"standard": "B01-STD is B01's, for its own city only"}
