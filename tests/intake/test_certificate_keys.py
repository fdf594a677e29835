"""The certificate signing keys: files with their windows, rotation that keeps old
certificates genuine, signatures outside a key's window refused, the key list whole."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from services.intake.certificates import cose, verify
from services.intake.certificates.errors import CertificateError
from services.intake.certificates.keys import KeyList, KeyRing, PublicKey
from services.intake.certificates.verify import Outcome
from tests.intake.conftest import CERTIFICATE_JUDGED, CertificateBank, certificate_facts

NOW = datetime.fromisoformat(CERTIFICATE_JUDGED)
DAY = timedelta(days=1)


@pytest.fixture(autouse=True)
def fresh_intake() -> Iterator[None]:
    """Pure: no tables to empty (this overrides the package's autouse fixture)."""
    yield


def judged(bank: CertificateBank, text: str, keys: KeyList | None = None) -> verify.Verdict:
    return verify.verify(text, keys or bank.key_list(), bank.status_source, NOW)


def test_key_files_are_owner_only_and_hold_their_window(tmp_path: Any) -> None:
    ring = KeyRing(tmp_path / "certificates")
    made = datetime.fromisoformat("2026-01-01T00:00:00+00:00")
    key = ring.generate(made, lifetime=timedelta(days=365))
    assert stat.S_IMODE(key.path.stat().st_mode) == 0o600
    assert key.path.parent == tmp_path / "certificates"
    stored = json.loads(key.path.read_text())
    assert stored["kid"] == key.info.kid_hex
    assert stored["notBefore"] == "2026-01-01T00:00:00Z"
    assert stored["notAfter"] == "2027-01-01T00:00:00Z"
    assert ring.signing_keys()[0].info == key.info
    assert ring.current(made + DAY).info == key.info
    with pytest.raises(CertificateError) as none:
        ring.current(made + timedelta(days=366))
    assert none.value.code == "NO_SIGNING_KEY"


def test_rotation_retires_the_old_key_keeps_it_and_makes_the_new_one_current(
    tmp_path: Any,
) -> None:
    ring = KeyRing(tmp_path)
    made = datetime.fromisoformat("2026-01-01T00:00:00+00:00")
    old = ring.generate(made)
    new = ring.rotate(made + 30 * DAY)
    assert [k.info.kid for k in ring.signing_keys()] == [old.info.kid, new.info.kid]
    assert ring.signing_keys()[0].info.retired == made + 30 * DAY
    assert ring.current(made + 31 * DAY).info.kid == new.info.kid
    listed = ring.key_list(
        "https://x.example/keys.json", "https://x.example/issuer", made + 31 * DAY
    )
    assert [m.get("retired") for m in listed["verificationMethod"]] == [
        "2026-01-31T00:00:00Z",
        None,
    ]


def test_what_the_old_key_signed_in_the_second_of_a_rotation_is_inside_its_window(
    tmp_path: Any,
) -> None:
    """Dates are published to the second (rounded down): a list signed at :20.7 and a
    rotation at :20.9 would both read :20, and the signature as made after the retirement."""
    ring = KeyRing(tmp_path)
    made = datetime.fromisoformat("2026-01-01T00:00:00+00:00")
    old = ring.generate(made)
    signed = made + 30 * DAY + timedelta(seconds=20, milliseconds=700)
    ring.rotate(signed + timedelta(milliseconds=200))
    listed = ring.key_list("https://x.example/keys.json", "https://x.example/issuer", signed + DAY)
    assert listed["verificationMethod"][0]["retired"] == "2026-01-31T00:00:21Z"
    published = KeyList.load(listed).keys[0]
    assert published.kid == old.info.kid
    assert published.window_refusal(signed.replace(microsecond=0)) is None
    assert published.window_refusal(signed + timedelta(seconds=1)) is not None


def test_an_old_certificate_stays_genuine_after_a_rotation(
    certificate_bank: CertificateBank,
) -> None:
    facts = certificate_facts(2)
    old_credential = json.dumps(certificate_bank.sign(facts), ensure_ascii=False)
    old_payload = certificate_bank.payload(facts)
    first = certificate_bank.key.info
    certificate_bank.now = datetime.fromisoformat("2026-03-05T00:00:00+00:00")
    certificate_bank.ring.rotate(certificate_bank.now)
    certificate_bank.publish()
    keys = certificate_bank.key_list()
    assert len(keys.keys) == 2
    for text in (old_credential, old_payload):
        verdict = judged(certificate_bank, text, keys)
        assert verdict.outcome is Outcome.GENUINE, verdict.reasons
        assert verdict.key is not None and verdict.key.kid == first.kid
    later = certificate_facts(issued_at=certificate_bank.now + DAY)
    verdict = judged(certificate_bank, json.dumps(certificate_bank.sign(later)), keys)
    assert verdict.genuine and verdict.key is not None and verdict.key.kid != first.kid


def test_a_signature_dated_after_its_keys_retirement_is_refused(
    certificate_bank: CertificateBank,
) -> None:
    """A retired key (stolen, say) signing a certificate dated after it was retired."""
    retired = certificate_bank.key
    certificate_bank.now = datetime.fromisoformat("2026-03-05T00:00:00+00:00")
    certificate_bank.ring.rotate(certificate_bank.now)
    certificate_bank.publish()
    late = certificate_facts(issued_at=certificate_bank.now + DAY)
    from services.intake.certificates import credential

    method = retired.method_id(CertificateBank.KEY_LIST)
    forged = credential.sign(late, certificate_bank.issuer, retired.private_key, method)
    verdict = judged(certificate_bank, json.dumps(forged))
    assert verdict.outcome is Outcome.NOT_GENUINE
    assert [r.code for r in verdict.reasons] == ["KEY_WINDOW_ERROR"]
    assert "after its key was retired" in verdict.reasons[0].message
    payload = cose.encode(
        cose.claims_of(late, CertificateBank.ISSUER), retired.private_key, retired.info.kid
    )
    assert [r.code for r in judged(certificate_bank, payload).reasons] == ["KEY_WINDOW_ERROR"]
    # The same facts dated inside the old key's window are genuine.
    inside = credential.sign(
        certificate_facts(), certificate_bank.issuer, retired.private_key, method
    )
    assert judged(certificate_bank, json.dumps(inside)).genuine


def test_a_signature_dated_before_its_keys_window_opened_is_refused(
    certificate_bank: CertificateBank,
) -> None:
    early = certificate_facts(issued_at=datetime.fromisoformat("2026-02-27T00:00:00+00:00"))
    verdict = judged(certificate_bank, json.dumps(certificate_bank.sign(early)))
    assert [r.code for r in verdict.reasons] == ["KEY_WINDOW_ERROR"]
    assert "before its key's window opened" in verdict.reasons[0].message
    assert judged(certificate_bank, certificate_bank.payload(early)).outcome is Outcome.NOT_GENUINE


def test_two_keys_under_one_key_id_are_each_tried(
    certificate_bank: CertificateBank, tmp_path: Any
) -> None:
    real = certificate_bank.key_list()
    signer = real.keys[0]
    decoy_ring = KeyRing(tmp_path / "decoy")
    decoy_ring.generate(certificate_bank.now)
    decoy = PublicKey(
        public_raw=decoy_ring.signing_keys()[0].info.public_raw,
        created=signer.created,
        not_before=signer.not_before,
        kid=signer.kid,  # the same 8 bytes, as a collision would give
    )
    facts = certificate_facts()
    texts = (json.dumps(certificate_bank.sign(facts)), certificate_bank.payload(facts))
    both = KeyList(real.id, real.controller, [decoy, signer], signer)
    decoy_only = KeyList(real.id, real.controller, [decoy], decoy)
    for text in texts:
        assert judged(certificate_bank, text, both).genuine
        assert judged(certificate_bank, text, decoy_only).outcome is Outcome.NOT_GENUINE


def test_the_key_list_must_be_whole_and_signed_by_one_of_its_keys(
    certificate_bank: CertificateBank, tmp_path: Any
) -> None:
    document = certificate_bank.key_list_document()
    assert KeyList.parse(json.dumps(document)).keys[0].kid == certificate_bank.key.info.kid
    moved = json.loads(json.dumps(document))
    moved["verificationMethod"][0]["notBefore"] = "2020-01-01T00:00:00Z"
    extra = json.loads(json.dumps(document))
    extra["verificationMethod"][0]["compromised"] = False
    other = CertificateBank(tmp_path / "other", certificate_bank.now).key_list_document()
    foreign = json.loads(json.dumps(document))
    foreign["proof"] = other["proof"]
    for bad in (moved, extra, foreign):
        with pytest.raises(CertificateError) as refused:
            KeyList.parse(json.dumps(bad))
        assert refused.value.code == "KEY_LIST_ERROR"
