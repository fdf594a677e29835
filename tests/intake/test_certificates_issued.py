"""Certificates issued on their application's final approval (once, however often the
approval comes), read by their address without signing in, verified by the bank, suspended,
lifted and revoked by the issuing level, and suspended at once when what they state is
reversed; their name never stored or sent in clear."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from sqlalchemy import func, select

from services.intake.certificates.models import Certificate
from services.intake.context import db
from services.intake.models import Outbox
from tests.factories import Conversions, Window, decide

POINT = ("AP000001", "社区学校")
SUBCENTRE = ("S001", "上城区分中心")
SUBCENTRE_REVIEWER = ("S001", "/ZJ/B01/S001/", "subcentre", ("reviewer",), None)


@pytest.fixture
def conv(window: Window) -> Conversions:
    conversions = Conversions(window)
    conversions.catalogue()
    conversions.standard()
    return conversions


def issued(window: Window, conv: Conversions, **body: Any) -> tuple[dict[str, str], str, dict]:
    """A learner with a training deposit and a converted certificate, and a certificate of
    the whole record approved at the point and the sub-centre: (clerk, account, application)."""
    clerk = window.token(name="社区学校")
    account = window.open_account(clerk)
    conv.outcome(clerk, account)
    web = conv.outcome(clerk, account, kind="skill_certificate")
    converted = window.client.post(
        "/api/v1/conversions", headers=clerk, json=conv.body(account, [web])
    ).json
    decide(converted["id"], "approved")
    r = window.client.post(
        "/api/v1/certificate-applications", headers=clerk, json={"account_number": account, **body}
    )
    assert r.status_code == 201, r.json
    decide(r.json["id"], "passed_up", unit=POINT)
    decide(r.json["id"], "approved", level="subcentre", unit=SUBCENTRE)
    return clerk, account, r.json


def certificate_of(application_id: str) -> Certificate:
    with db.transaction() as session:
        found = session.scalar(
            select(Certificate).where(Certificate.application_id == application_id)
        )
        assert found is not None
        session.expunge(found)
        return found


def test_a_certificate_is_issued_once_and_read_by_its_address(
    window: Window, conv: Conversions
) -> None:
    _clerk, _account, application = issued(window, conv, purpose="求职")
    decide(application["id"], "approved", level="subcentre", unit=SUBCENTRE)  # once more
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Certificate)) == 1
    certificate = certificate_of(application["id"])
    r = window.client.get(f"/api/v1/certificates/{certificate.id}")  # no sign-in
    assert r.status_code == 200, r.json
    shown = r.json
    assert shown["number"] == certificate.number and shown["number"].startswith("ZJC2026")
    assert shown["verdict"]["outcome"] == "genuine", shown["verdict"]
    facts = shown["verdict"]["facts"]
    assert facts["learner_name"] == "张三"
    assert (facts["unit_code"], facts["unit_name"]) == SUBCENTRE  # the level that issued it
    assert facts["accepted"]["unit_name"] == "社区学校"
    assert [(s["level"], s["unit_code"], s["unit_name"]) for s in facts["approvals"]] == [
        ("acceptance_point", *POINT),
        ("subcentre", *SUBCENTRE),
    ]
    # the training, the certificate converted, and its conversion standing on it
    assert [(o["kind"], o["hours"], o["credits"]) for o in facts["outcomes"]] == [
        ("social_training", "48", "0"),
        ("skill_certificate", None, "0"),
    ]
    (conversion,) = facts["conversions"]
    assert conversion["credits"] == "3" and conversion["outcomes"] == [facts["outcomes"][1]["code"]]
    assert shown["credential"]["type"] == ["VerifiableCredential", "ClrCredential"]
    assert shown["payload"].startswith("ZJCB1:")
    assert shown["verify_url"] == f"http://127.0.0.1:8005/v/{certificate.id}"
    assert (
        window.client.get("/api/v1/certificates/00000000-0000-4000-8000-000000000000").status_code
        == 404
    )


def test_the_bank_verifies_a_credential_or_a_qr_payload_and_refuses_an_altered_one(
    window: Window, conv: Conversions
) -> None:
    _clerk, _account, application = issued(window, conv)
    shown = window.client.get(f"/api/v1/certificates/{certificate_of(application['id']).id}").json
    text = json.dumps(shown["credential"], ensure_ascii=False)

    def verdict(body: dict[str, Any]) -> dict[str, Any]:
        r = window.client.post("/api/v1/verify", json=body)
        assert r.status_code == 200, r.json
        return dict(r.json)

    assert verdict({"text": text})["outcome"] == "genuine"
    by_qr = verdict({"text": shown["payload"]})
    assert by_qr["outcome"] == "genuine" and by_qr["claims"]["number"] == shown["number"]
    # the review chain comes from the bank's record of the credential the QR code signs
    assert [s["unit_name"] for s in by_qr["facts"]["approvals"]] == ["社区学校", "上城区分中心"]
    for before, after in (("张三", "张四"), ('"credits": 3', '"credits": 30')):
        altered = text.replace(before, after)
        assert altered != text and verdict({"text": altered})["outcome"] == "not_genuine"
    copied = verdict({"text": shown["payload"], "number": "ZJC2026000099"})
    assert copied["outcome"] == "not_genuine"
    assert copied["reasons"][0]["code"] == "NUMBER_MISMATCH" and copied["record"] is None
    assert verdict({"text": "ZJCB1:NOT-BASE45"})["outcome"] == "not_genuine"
    too_long = window.client.post("/api/v1/verify", json={"text": "x" * (300 * 1024 + 1)})
    assert too_long.status_code == 422 and too_long.json["errors"][0]["field"] == "text"


def test_the_issuing_level_suspends_lifts_and_revokes(window: Window, conv: Conversions) -> None:
    clerk, _account, application = issued(window, conv)
    certificate = certificate_of(application["id"])
    path = f"/api/v1/certificates/{certificate.id}"
    reviewer = window.token(*SUBCENTRE_REVIEWER)
    other = window.token("S002", "/ZJ/B01/S002/", "subcentre", ("reviewer",), None)
    refused = window.client.post(f"{path}/revocation", headers=clerk, json={"reason": "造假"})
    assert refused.status_code == 403 and "S001" in refused.json["detail"]
    assert (
        window.client.post(f"{path}/revocation", headers=other, json={"reason": "造假"}).status_code
        == 404
    )

    def outcome() -> tuple[str, Any]:
        verdict = window.client.get(path).json["verdict"]
        return verdict["outcome"], verdict["record"]["reason"] if verdict["record"] else None

    suspended = window.client.post(
        f"{path}/suspension", headers=reviewer, json={"reason": "核查中"}
    )
    assert suspended.status_code == 200 and suspended.json["status"] == "suspended"
    assert outcome() == ("suspended", "核查中")
    assert (
        window.client.post(
            f"{path}/reinstatement", headers=reviewer, json={"reason": "核查无误"}
        ).json["status"]
        == "valid"
    )
    assert outcome() == ("genuine", "核查无误")
    revoked = window.client.post(f"{path}/revocation", headers=reviewer, json={"reason": "造假"})
    assert revoked.status_code == 200
    assert outcome() == ("revoked", "造假")
    again = window.client.post(f"{path}/reinstatement", headers=reviewer, json={"reason": "x"})
    assert again.status_code == 409  # revoked for good
    listed = window.client.get("/api/v1/status-lists/revocation").json
    assert listed["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    listing = window.client.get("/api/v1/certificates", headers=reviewer).json
    assert [(c["number"], c["status"]) for c in listing["items"]] == [
        (certificate.number, "revoked")
    ]
    assert window.client.get("/api/v1/certificates", headers=other).json["items"] == []


def test_reversing_what_a_certificate_states_suspends_it(window: Window, conv: Conversions) -> None:
    _clerk, _account, application = issued(window, conv)
    certificate = certificate_of(application["id"])
    data = window.client.get(f"/api/v1/certificates/{certificate.id}").json
    assert data["status"] == "valid"
    admin = window.token("S001", "/ZJ/B01/S001/", "subcentre", ("admin",), None)
    with db.transaction() as session:
        conversion_id = session.scalar(
            select(Outbox.payload["application_id"].astext).where(
                Outbox.task_name == "review.open_case",
                Outbox.payload["kind"].astext == "conversion",
            )
        )
    r = window.client.post(
        f"/api/v1/conversions/{conversion_id}/reversal", headers=admin, json={"reason": "证书造假"}
    )
    assert r.status_code == 201, r.json
    shown = window.client.get(f"/api/v1/certificates/{certificate.id}").json
    assert shown["status"] == "suspended"
    assert shown["status_reason"] == "所依据的学分转换已冲销：证书造假"
    assert shown["verdict"]["outcome"] == "suspended"


def test_the_name_is_never_in_clear_in_the_tables_or_the_messages(
    window: Window, conv: Conversions, run_env: dict[str, str]
) -> None:
    _clerk, _account, application = issued(window, conv)
    certificate = certificate_of(application["id"])
    url = run_env["CB_INTAKE_DATABASE_URL"].replace("+psycopg", "")
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT * FROM certificates").fetchall()
        payloads = [p for (p,) in conn.execute("SELECT payload::text FROM outbox")]
    stored = repr(rows).encode() + b"".join(
        bytes(v) for row in rows for v in row if isinstance(v, bytes | memoryview)
    )
    assert "张三".encode() not in stored
    told = next(
        json.loads(p)
        for p in payloads
        if '"intake.application_decided"' in p and certificate.number in p
    )
    assert told["data"]["certificate_number"] == certificate.number
    assert "certificate_url" in told["sealed"]  # the link opens the name: sealed for notify
    assert all(str(certificate.id) not in p for p in payloads)


def test_the_pdf_is_served_at_its_address_and_a_name_no_font_has_is_refused(
    window: Window, conv: Conversions
) -> None:
    _clerk, _account, application = issued(window, conv)
    certificate = certificate_of(application["id"])
    r = window.client.get(f"/api/v1/certificates/{certificate.id}/pdf")  # no sign-in
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    assert r.data.startswith(b"%PDF-") and r.headers["Cache-Control"] == "private, no-store"
    assert f'filename="certificate-{certificate.number}.pdf"' in r.headers["Content-Disposition"]
    missing = window.client.get("/api/v1/certificates/00000000-0000-4000-8000-000000000000/pdf")
    assert missing.status_code == 404
    kept = certificate_of(application["id"]).pdf_enc
    assert kept is not None and b"%PDF-" not in kept  # kept once rendered, encrypted
    cipher = window.client.application.extensions["cb_context"].cipher
    assert cipher.decrypt_bytes(kept, "certificate.pdf") == r.data
    with db.transaction() as session:  # what is kept is what is served: no render again
        session.get_one(Certificate, certificate.id).pdf_enc = cipher.encrypt_bytes(
            b"%PDF-kept", "certificate.pdf"
        )
    assert window.client.get(f"/api/v1/certificates/{certificate.id}/pdf").data == b"%PDF-kept"

    clerk = window.token(name="社区学校")
    # U+9FEB (Unicode 10): a name the window takes, in neither Noto CJK 2.004 nor HanaMin
    opened = window.open(clerk, name="王\u9feb")
    assert opened.status_code == 201, opened.json
    decide(opened.json["id"], "approved")
    account = window.client.get(f"/api/v1/applications/{opened.json['id']}", headers=clerk).json[
        "account_number"
    ]
    conv.outcome(clerk, account)
    r = window.client.post(
        "/api/v1/certificate-applications", headers=clerk, json={"account_number": account}
    )
    assert r.status_code == 201, r.json
    decide(r.json["id"], "passed_up", unit=POINT)
    decide(r.json["id"], "approved", level="subcentre", unit=SUBCENTRE)
    refused = window.client.get(f"/api/v1/certificates/{certificate_of(r.json['id']).id}/pdf")
    assert refused.status_code == 409, refused.json
    assert refused.json["missing"] == "\u9feb" and "U+9FEB" in refused.json["detail"]
