"""Conversion applications over intake's API: the preview, the application with its outcomes
reserved, every refusal naming its field and leaving nothing written, the end of a
conversion (consumed and posted once, or released), a reversal, a resubmission, an expert
judgement, and a decision recomputed from the application alone."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from services.intake import decisions
from services.intake.context import db, worker_context
from services.intake.conversion import applications as conversions
from services.intake.conversion import rules
from services.intake.conversion.models import Reservation
from services.intake.models import Account, Application, LedgerEntry, Outbox
from tests.factories import (
    CERTIFICATE_RULE,
    TRAINING_RULE,
    Conversions,
    Window,
    decide,
)
from tests.import_data import generate, to_csv
from tests.intake.conftest import process, send

PREVIEW, APPLY = "/api/v1/conversions/preview", "/api/v1/conversions"


@pytest.fixture
def conv(window: Window) -> Conversions:
    conversions = Conversions(window)
    conversions.catalogue()
    return conversions


@pytest.fixture
def clerk(window: Window) -> dict[str, str]:
    return window.token()


@pytest.fixture
def account(window: Window, clerk: dict[str, str]) -> str:
    return window.open_account(clerk)


def errors(response: Any) -> dict[str, str]:
    return {e["field"]: e["reason"] for e in response.json["errors"]}


def written() -> tuple[int, int, int]:
    """Conversion applications, reservations, ledger entries: what a refusal must not add."""
    with db.transaction() as session:
        return (
            session.scalar(select(func.count()).where(Application.kind == "conversion")) or 0,
            session.scalar(select(func.count()).select_from(Reservation)) or 0,
            session.scalar(select(func.count()).select_from(LedgerEntry)) or 0,
        )


def reservations() -> list[tuple[int, str]]:
    with db.transaction() as session:
        rows = session.execute(
            select(Reservation.ledger_entry_id, Reservation.status).order_by(Reservation.id)
        )
        return [(entry, status.value) for entry, status in rows]


def ledger(window: Window, clerk: dict[str, str], account: str) -> list[dict[str, Any]]:
    r = window.client.get(f"/api/v1/accounts/{account}/ledger?per_page=100", headers=clerk)
    return list(r.json["items"])


def test_the_preview_shows_rules_credits_and_caps_and_writes_nothing(
    window: Window, conv: Conversions, clerk: dict[str, str], account: str
) -> None:
    conv.standard(caps=[{"kind": "per_year", "limit": "42", "year_starts": "03-01"}])
    training = conv.outcome(clerk, account, hours="40")
    certificate = conv.outcome(clerk, account, kind="skill_certificate")
    before = written()
    r = window.client.post(PREVIEW, headers=clerk, json=conv.body(account, [training, certificate]))
    assert r.status_code == 200, r.json
    assert r.json["ok"] is True and r.json["credits"] == "5.5"
    assert r.json["standard"] == {"code": "STD", "name": "转换标准 STD", "version": 1}
    assert [(o["entry_id"], o["rule"], o["credits"]) for o in r.json["outcomes"]] == [
        (training, 1, "2.5"),
        (certificate, 2, "3.0"),
    ]
    assert r.json["caps"] == [
        {
            "kind": "per_year",
            "limit": "42.0",
            "used": "0",
            "asked": "5.5",
            "exceeded": False,
            "year_start": "2026-03-01",
        }
    ]
    assert written() == before


def test_an_application_pins_the_version_and_rules_and_reserves_its_outcomes(
    window: Window, conv: Conversions, clerk: dict[str, str], account: str
) -> None:
    conv.standard()
    training = conv.outcome(clerk, account)
    r = window.client.post(APPLY, headers=clerk, json=conv.body(account, [training]))
    assert r.status_code == 201, r.json
    assert (r.json["kind"], r.json["status"]) == ("conversion", "in_review")
    got = window.client.get(f"/api/v1/applications/{r.json['id']}", headers=clerk).json
    data = got["versions"][-1]["data"]
    assert data["standard"]["code"] == "STD" and data["standard"]["version"] == 1
    assert data["target"]["programme"] == {"code": "U1-CS", "name": "计算机应用技术"}
    assert data["outcomes"][0]["rule"]["number"] == 1
    assert data["outcomes"][0]["facts"]["hours"] == "48.00"
    assert data["credits"] == "3.0"
    assert reservations() == [(training, "reserved")]
    with db.transaction() as session:
        sent = session.scalars(
            select(Outbox.payload).where(Outbox.task_name == "review.open_case")
        ).all()
    to_review = next(p for p in sent if p["application_id"] == r.json["id"])
    assert (to_review["kind"], to_review["credits"], "expert" in to_review) == (
        "conversion",
        "3.00",
        False,
    )
    # the same outcome again: refused while this one is in review, naming both
    again = window.client.post(APPLY, headers=clerk, json=conv.body(account, [training]))
    assert again.status_code == 409
    assert errors(again) == {
        "outcomes.0": f"outcome {training} is already reserved by conversion {r.json['id']}"
    }
    held = next(e for e in ledger(window, clerk, account) if e["id"] == training)["held_by"]
    assert held == {"application_id": r.json["id"], "status": "reserved"}


@pytest.mark.parametrize("end", ["rejected", "withdrawn"])
def test_a_conversion_rejected_or_withdrawn_frees_its_outcomes(
    window: Window, conv: Conversions, clerk: dict[str, str], account: str, end: str
) -> None:
    conv.standard()
    training = conv.outcome(clerk, account)
    first = window.client.post(APPLY, headers=clerk, json=conv.body(account, [training])).json
    if end == "rejected":
        decide(first["id"], "rejected", reason="证明材料不清")
    else:
        r = window.client.post(
            f"/api/v1/applications/{first['id']}/withdraw",
            headers=clerk,
            json={"reason": "学习者撤回"},
        )
        assert r.status_code == 200, r.json
    assert reservations() == [(training, "released")]
    again = window.client.post(APPLY, headers=clerk, json=conv.body(account, [training]))
    assert again.status_code == 201, again.json
    assert reservations() == [(training, "released"), (training, "reserved")]


def test_the_approval_posts_the_credits_once_citing_what_they_stand_on(
    window: Window, conv: Conversions, clerk: dict[str, str], account: str
) -> None:
    conv.standard()
    training = conv.outcome(clerk, account)
    certificate = conv.outcome(clerk, account, kind="skill_certificate")
    application = window.client.post(
        APPLY, headers=clerk, json=conv.body(account, [training, certificate])
    ).json
    message_id = "00000000-0000-4000-8000-000000000001"
    assert decide(application["id"], "approved", message_id=message_id) == "approved"
    # the same message redelivered, and a second copy under another id: nothing more
    assert decide(application["id"], "approved", message_id=message_id) == "duplicate"
    decide(application["id"], "approved")
    entries = [e for e in ledger(window, clerk, account) if e["entry_kind"] == "conversion"]
    assert len(entries) == 1
    posted = entries[0]
    assert (posted["credits"], posted["target_programme"]) == ("6.00", "U1-CS")
    assert posted["basis"]["standard"]["version"] == 1
    assert [(o["entry_id"], o["rule"]) for o in posted["basis"]["outcomes"]] == [
        (training, 1),
        (certificate, 2),
    ]
    assert posted["description"] == "计算机应用技术（STD 第1版）"
    assert reservations() == [(training, "consumed"), (certificate, "consumed")]
    got = window.client.get(f"/api/v1/accounts/{account}", headers=clerk).json
    # deposited outcomes stay counted where they were; the conversion is apart
    assert {b["outcome_kind"]: b["entries"] for b in got["balances"]} == {
        "skill_certificate": 1,
        "social_training": 1,
    }
    assert got["converted"] == [
        {"target_institution": "U1", "target_programme": "U1-CS", "credits": "6.00", "entries": 1}
    ]
    assert "conversion" not in {b["outcome_kind"] for b in got["balances"]}
    consumed = window.client.post(APPLY, headers=clerk, json=conv.body(account, [training]))
    assert consumed.status_code == 409
    assert "already consumed by conversion" in errors(consumed)["outcomes.0"]


def test_a_decision_is_recomputed_from_the_application_whatever_was_published_since(
    window: Window, conv: Conversions, clerk: dict[str, str], account: str
) -> None:
    conv.standard(rules=[TRAINING_RULE])
    training = conv.outcome(clerk, account, hours="40")
    application = window.client.post(APPLY, headers=clerk, json=conv.body(account, [training])).json
    draft = window.client.post("/api/v1/conversion-standards/STD/versions", headers=conv.province)
    assert draft.status_code == 201
    window.client.put(
        "/api/v1/conversion-standards/STD/versions/2",
        headers=conv.province,
        json={
            "effective_from": "2026-01-01",
            "rules": [{**TRAINING_RULE, "hours_per_credit": "8"}],
        },
    )
    assert (
        window.client.post(
            "/api/v1/conversion-standards/STD/versions/2/publish", headers=conv.province
        ).status_code
        == 200
    )
    decide(application["id"], "approved")
    got = window.client.get(f"/api/v1/applications/{application['id']}", headers=clerk).json
    snapshot = got["versions"][-1]["data"]
    assert rules.recompute(snapshot) == Decimal("2.5")  # 40 h at 16 h a credit, as applied
    posted = next(e for e in ledger(window, clerk, account) if e["entry_kind"] == "conversion")
    assert Decimal(posted["credits"]) == rules.recompute(snapshot)
    # a new conversion today is weighed under version 2 (8 h a credit): 5 credits
    other = conv.outcome(clerk, account, hours="40")
    preview = window.client.post(PREVIEW, headers=clerk, json=conv.body(account, [other])).json
    assert (preview["standard"]["version"], preview["credits"]) == (2, "5.0")


def test_a_reversal_is_a_new_entry_and_frees_the_caps_but_not_the_outcome(
    window: Window, conv: Conversions, clerk: dict[str, str], account: str
) -> None:
    conv.standard(caps=[{"kind": "per_programme", "limit": "4"}])
    training = conv.outcome(clerk, account)
    application = window.client.post(APPLY, headers=clerk, json=conv.body(account, [training])).json
    decide(application["id"], "approved")
    path = f"/api/v1/conversions/{application['id']}/reversal"
    assert window.client.post(path, headers=clerk, json={"reason": "证书造假"}).status_code == 403
    subcentre = window.token("S001", "/ZJ/B01/S001/", "subcentre", ("admin",), None)
    missing = window.client.post(path, headers=subcentre, json={})
    assert missing.status_code == 422 and "reason" in errors(missing)
    r = window.client.post(path, headers=subcentre, json={"reason": "证书造假"})
    assert r.status_code == 201, r.json
    assert (r.json["entry_kind"], r.json["credits"]) == ("reversal", "-3.00")
    assert window.client.post(path, headers=subcentre, json={"reason": "再次"}).status_code == 409
    kinds = [(e["entry_kind"], e["credits"]) for e in ledger(window, clerk, account)]
    assert kinds[-2:] == [("conversion", "3.00"), ("reversal", "-3.00")]
    got = window.client.get(f"/api/v1/accounts/{account}", headers=clerk).json
    assert got["converted"][0]["credits"] == "0.00"
    again = window.client.post(APPLY, headers=clerk, json=conv.body(account, [training]))
    assert again.status_code == 409 and "reversed" in errors(again)["outcomes.0"]
    # what was reversed counts toward no cap: 3 more credits fit under the limit of 4
    other = conv.outcome(clerk, account)
    assert (
        window.client.post(APPLY, headers=clerk, json=conv.body(account, [other])).status_code
        == 201
    )
    events = window.client.get(f"/api/v1/applications/{application['id']}", headers=clerk).json
    assert "reversed" in [e["type"] for e in events["timeline"]]


def test_refusals_name_the_field_and_write_nothing(
    window: Window, conv: Conversions, clerk: dict[str, str], account: str
) -> None:
    conv.standard(rules=[TRAINING_RULE, {**CERTIFICATE_RULE, "max_age_years": 1}])
    training = conv.outcome(clerk, account)
    old_certificate = conv.outcome(clerk, account, kind="skill_certificate", issued_on="2024-05-01")
    low_certificate = conv.outcome(
        clerk, account, kind="skill_certificate", level="初级", issued_on="2026-06-01"
    )
    other_account = window.open_account(clerk)
    theirs = conv.outcome(clerk, other_account)
    pending = window.client.post(
        "/api/v1/applications",
        headers=clerk,
        json=window.deposit_body(account, [window.upload(clerk)]),
    )
    assert pending.status_code == 201
    before = written()

    def refused(body: dict[str, Any], status: int = 422) -> dict[str, str]:
        for path in (PREVIEW, APPLY) if status != 200 else (PREVIEW,):
            r = window.client.post(path, headers=clerk, json=body)
            if path == PREVIEW and r.status_code == 200:
                found = {p["field"]: p["reason"] for p in r.json["problems"]}
                assert r.json["ok"] is False
                continue
            assert r.status_code == status, r.json
            found = errors(r)
        assert written() == before
        return found

    assert refused(conv.body(account, [training], standard="NOPE")) == {
        "standard": "NOPE is not a conversion standard"
    }
    assert refused(conv.body(account, [theirs])) == {
        "outcomes.0": f"{theirs} is not an approved outcome of this learner's account"
    }
    assert refused(conv.body(account, [999_999])) == {
        "outcomes.0": "999999 is not an approved outcome of this learner's account"
    }
    assert refused(conv.body(account, [training, training])) == {
        "outcomes.1": f"outcome {training} is named twice"
    }
    too_old = refused(conv.body(account, [old_certificate]))["outcomes.0"]
    assert (
        too_old.startswith("condition not met: older than 1 years on ")
        and "(2024-05-01)" in too_old
    )
    assert refused(conv.body(account, [low_certificate])) == {
        "outcomes.0": "condition not met: level 初级 is below 中级"
    }
    elsewhere = {"institution": "U1", "programme": "U1-ME"}
    assert refused(conv.body(account, [training], target=elsewhere)) == {
        "outcomes.0": "no rule of the standard converts this outcome to the target "
        "(an expert judgement may be asked for)"
    }
    assert refused(
        conv.body(account, [training], target={"institution": "U1", "programme": "NO"})
    ) == {"target.programme": "not in the catalogue"}
    assert refused(conv.body(account, [])) == {"outcomes": "Length must be between 1 and 50."}
    assert refused(conv.body(account, [training], expert={"credits": "2.3", "reason": "专家"})) == {
        "expert.credits": "credits are counted in half credits (e.g. 2 or 2.5)"
    }
    assert refused({**conv.body(account, [training]), "account_ref": "x"}) == {
        "account_number": "send the account as account_number or as account_ref (one of them)"
    }
    another_point = window.token("AP000002", "/ZJ/B01/S002/AP000002/")
    r = window.client.post(PREVIEW, headers=another_point, json=conv.body(account, [training]))
    assert r.status_code == 404


def test_a_cap_exceeded_says_which_its_limit_and_what_is_used(
    window: Window, conv: Conversions, clerk: dict[str, str], account: str
) -> None:
    conv.standard(
        caps=[
            {"kind": "per_year", "limit": "5", "year_starts": "03-01"},
            {"kind": "certificates", "limit": "1"},
        ]
    )
    first = conv.outcome(clerk, account)  # 48 h: 3 credits
    assert (
        window.client.post(APPLY, headers=clerk, json=conv.body(account, [first])).status_code
        == 201
    )
    second = conv.outcome(clerk, account)
    before = written()
    r = window.client.post(APPLY, headers=clerk, json=conv.body(account, [second]))
    assert r.status_code == 422
    assert errors(r) == {
        "caps.per_year": "the per_year cap of 5 credits would be exceeded: 3 already used, 3 asked"
    }
    assert written() == before
    preview = window.client.post(PREVIEW, headers=clerk, json=conv.body(account, [second])).json
    year = next(c for c in preview["caps"] if c["kind"] == "per_year")
    assert (year["used"], year["asked"], year["exceeded"]) == ("3.0", "3.0", True)
    one, two = (conv.outcome(clerk, account, kind="skill_certificate") for _ in range(2))
    r = window.client.post(APPLY, headers=clerk, json=conv.body(account, [one, two]))
    assert errors(r)["caps.certificates"] == (
        "the certificates cap of 1 certificates would be exceeded: 0 already used, 2 asked"
    )


def test_a_returned_conversion_is_corrected_and_reserved_again(
    window: Window, conv: Conversions, clerk: dict[str, str], account: str
) -> None:
    conv.standard()
    training = conv.outcome(clerk, account)
    certificate = conv.outcome(clerk, account, kind="skill_certificate")
    application = window.client.post(APPLY, headers=clerk, json=conv.body(account, [training])).json
    decide(application["id"], "returned", reason="请改用证书转换")
    body = {"conversion": conv.body(account, [certificate])}
    r = window.client.post(
        f"/api/v1/applications/{application['id']}/resubmit", headers=clerk, json=body
    )
    assert r.status_code == 200, r.json
    assert reservations() == [(training, "released"), (certificate, "reserved")]
    got = window.client.get(f"/api/v1/applications/{application['id']}", headers=clerk).json
    assert [v["data"]["outcomes"][0]["entry_id"] for v in got["versions"]] == [
        training,
        certificate,
    ]
    # the freed outcome may go into another conversion
    assert (
        window.client.post(APPLY, headers=clerk, json=conv.body(account, [training])).status_code
        == 201
    )


def test_an_expert_judgement_says_why_and_climbs_one_level_higher(
    window: Window, conv: Conversions, clerk: dict[str, str], account: str
) -> None:
    conv.standard(rules=[TRAINING_RULE])
    award = conv.outcome(clerk, account)
    elsewhere = {"institution": "U1", "programme": "U1-ME"}
    no_reason = window.client.post(
        APPLY,
        headers=clerk,
        json=conv.body(account, [award], target=elsewhere, expert={"credits": "2"}),
    )
    assert no_reason.status_code == 422 and "expert.reason" in errors(no_reason)
    r = window.client.post(
        APPLY,
        headers=clerk,
        json=conv.body(
            account,
            [award],
            target=elsewhere,
            expert={"credits": "2", "reason": "培训内容与《电工技术》课程一致"},
        ),
    )
    assert r.status_code == 201, r.json
    data = window.client.get(f"/api/v1/applications/{r.json['id']}", headers=clerk).json[
        "versions"
    ][-1]["data"]
    assert data["expert"] == {"credits": "2.0", "reason": "培训内容与《电工技术》课程一致"}
    assert data["credits"] == "2.0" and data["outcomes"][0]["rule"] is None
    assert rules.recompute(data) == Decimal(2)
    with db.transaction() as session:
        sent = session.scalars(
            select(Outbox.payload).where(Outbox.task_name == "review.open_case")
        ).all()
    assert next(p for p in sent if p["application_id"] == r.json["id"])["expert"] is True


def test_a_double_click_with_one_key_takes_one_conversion(
    window: Window, conv: Conversions, clerk: dict[str, str], account: str
) -> None:
    conv.standard()
    training = conv.outcome(clerk, account)
    headers = {**clerk, "Idempotency-Key": "conv-0001-abcdef"}
    first = window.client.post(APPLY, headers=headers, json=conv.body(account, [training]))
    second = window.client.post(APPLY, headers=headers, json=conv.body(account, [training]))
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json["id"] == second.json["id"]
    assert reservations() == [(training, "reserved")]


def test_a_certificate_is_deposited_with_a_catalogue_code_of_its_kind_and_level(
    window: Window, conv: Conversions, clerk: dict[str, str], account: str
) -> None:
    sha = window.upload(clerk)
    outcome = {
        "skill_name": "Web前端开发",
        "level": "中级",
        "certificate_number": "ZS-1",
        "issuing_authority": "评价组织",
        "issued_on": "2025-06-01",
    }

    def deposit(**fields: Any) -> Any:
        return window.client.post(
            "/api/v1/applications",
            headers=clerk,
            json={
                "account_number": account,
                "outcome_kind": "skill_certificate",
                "outcome": {**outcome, **fields},
                "attachments": [sha],
            },
        )

    unknown = deposit(catalogue_code="C-NONE")
    assert unknown.status_code == 422 and errors(unknown) == {
        "outcome.catalogue_code": "C-NONE is not a skill_certificate of the conversion catalogue"
    }
    wrong_kind = deposit(catalogue_code="C-ELEC")
    assert "outcome.catalogue_code" in errors(wrong_kind)
    not_issued = deposit(catalogue_code="C-WEB", level="技师")
    assert errors(not_issued) == {"outcome.level": "C-WEB is issued at 初级、中级、高级, not 技师"}
    assert deposit(catalogue_code="C-WEB").status_code == 201


def test_import_records_and_deposits_are_read_together_each_from_its_own_source(
    window: Window, conv: Conversions, clerk: dict[str, str], account: str
) -> None:
    """The facts of many outcomes are read in one batch: each import record's from the
    record, each deposit's from its latest version (a corrected one's second), by entry."""
    generated = generate(3, bad_every=1000, repeat_every=1000)
    for row, hours in zip(generated.rows, ("24", "40", "60"), strict=True):
        row["hours"] = hours
    sent = send(window, clerk, to_csv(generated.rows))
    assert sent.status_code == 202, sent.json
    process(sent.json["id"])
    batch = window.client.get(f"/api/v1/imports/{sent.json['id']}", headers=clerk).json
    message = {
        "message_id": uuid.uuid4(),
        "application_id": uuid.UUID(batch["application_id"]),
        "round": 1,
        "level": "subcentre",
        "outcome": "approved",
        "decided_by_id": 901,
        "decided_by": "sc-reviewer",
        "decided_at": None,
        "reason": None,
        "rejected_rows": [],
    }
    with db.transaction() as session:
        assert decisions.apply_decision(session, worker_context(), message) == "approved"
    sha = window.upload(clerk)
    returned = window.client.post(
        "/api/v1/applications", headers=clerk, json=window.deposit_body(account, [sha], hours="400")
    ).json["id"]
    decide(returned, "returned", reason="学时与证书不符")
    body = window.deposit_body(account, [sha], hours="32")
    r = window.client.post(
        f"/api/v1/applications/{returned}/resubmit",
        headers=clerk,
        json={k: body[k] for k in ("outcome_kind", "outcome", "attachments")},
    )
    assert r.status_code == 200, r.json
    decide(returned, "approved", round_=2)
    certificate = conv.outcome(clerk, account, kind="skill_certificate")
    with db.transaction() as session:
        imported = session.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.import_record_id.is_not(None))
            .order_by(LedgerEntry.id)
        ).all()
        deposits = session.scalars(
            select(LedgerEntry)
            .where(
                (LedgerEntry.application_id == uuid.UUID(returned))
                | (LedgerEntry.id == certificate)
            )
            .order_by(LedgerEntry.id)
        ).all()
        mixed = [imported[1], *deposits, imported[0], imported[2]]
        batch_facts = conversions.facts_of_all(session, mixed)
        one_by_one = {e.id: conversions.facts_of(session, e) for e in mixed}
        imported_account = session.get_one(Account, imported[0].account_id).number
    assert batch_facts == one_by_one and list(batch_facts) == [e.id for e in mixed]
    assert [
        (f.kind, f.hours, f.organiser, f.title, f.on) for f in (batch_facts[e.id] for e in imported)
    ] == [
        ("social_training", f"{h}.00", "杭州市职业技能培训中心", "电工初级培训", "2026-03-20")
        for h in ("24", "40", "60")
    ]
    by_kind = {batch_facts[e.id].kind: batch_facts[e.id] for e in deposits}
    assert by_kind["social_training"].hours == "32.00"  # the corrected version, not the first
    assert by_kind["skill_certificate"].catalogue_code == "C-WEB"
    assert by_kind["skill_certificate"].evidence and by_kind["social_training"].evidence == (sha,)
    # and through the API: an imported learner's record converted like a deposit
    conv.standard()
    r = window.client.post(
        PREVIEW, headers=clerk, json=conv.body(imported_account, [imported[0].id])
    )
    assert r.status_code == 200, r.json
    assert (r.json["ok"], r.json["credits"]) == (True, "1.5")  # 24 hours / 16, to a half


def test_every_cap_counts_what_it_covers_of_the_learners_held_outcomes(
    window: Window, conv: Conversions, clerk: dict[str, str], account: str
) -> None:
    """The caps' use, read for all of them at once, each over its own reservations: another
    programme of the institution counts toward per_institution only, a withdrawn conversion
    toward none."""
    other_programme = {**TRAINING_RULE, "target_programme": "U1-ME", "target_course": None}
    conv.standard(
        rules=[TRAINING_RULE, CERTIFICATE_RULE, other_programme],
        caps=[
            {"kind": "per_year", "limit": "100", "year_starts": "03-01"},
            {"kind": "per_outcome", "limit": "6"},
            {"kind": "per_institution", "limit": "100"},
            {"kind": "per_programme", "limit": "100"},
            {"kind": "certificates", "limit": "5"},
        ],
    )
    training, certificate = (
        conv.outcome(clerk, account),
        conv.outcome(clerk, account, kind="skill_certificate"),
    )
    held = window.client.post(
        APPLY, headers=clerk, json=conv.body(account, [training, certificate])
    )
    assert held.status_code == 201, held.json
    elsewhere = conv.body(account, [conv.outcome(clerk, account)])
    elsewhere["target"] = {"institution": "U1", "programme": "U1-ME"}
    assert window.client.post(APPLY, headers=clerk, json=elsewhere).status_code == 201
    withdrawn = window.client.post(
        APPLY, headers=clerk, json=conv.body(account, [conv.outcome(clerk, account)])
    ).json["id"]
    back = window.client.post(
        f"/api/v1/applications/{withdrawn}/withdraw", headers=clerk, json={"reason": "撤回"}
    )
    assert back.status_code == 200, back.json
    asked = [conv.outcome(clerk, account), conv.outcome(clerk, account, kind="skill_certificate")]
    r = window.client.post(PREVIEW, headers=clerk, json=conv.body(account, asked))
    assert r.status_code == 200 and r.json["ok"] is True, r.json
    assert {c["kind"]: (c["used"], c["asked"]) for c in r.json["caps"]} == {
        "per_year": ("9.0", "6.0"),  # 3 + 3 toward U1-CS, 3 toward U1-ME
        "per_outcome": ("0", "3.0"),
        "per_institution": ("9.0", "6.0"),
        "per_programme": ("6.0", "6.0"),
        "certificates": ("1", "1"),
    }
