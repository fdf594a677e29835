"""Revocation and suspension through Bitstring Status Lists, and every way a list can fail to
be believed: each leaves the certificate short of genuine (fail closed), with its reason."""

from __future__ import annotations

import gzip
import json
import random
import zlib
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from services.intake.certificates import multibase, proofs, status_list, verify
from services.intake.certificates.errors import CertificateError
from services.intake.certificates.status_list import MIN_ENTRIES, StatusList
from services.intake.certificates.verify import Outcome
from tests.intake.conftest import CERTIFICATE_JUDGED, CertificateBank, certificate_facts

NOW = datetime.fromisoformat(CERTIFICATE_JUDGED)
INDEX = certificate_facts().status_index


@pytest.fixture(autouse=True)
def fresh_intake() -> Iterator[None]:
    """Pure: no tables to empty (this overrides the package's autouse fixture)."""
    yield


@pytest.fixture(params=["credential", "qr"])
def presented(request: pytest.FixtureRequest, certificate_bank: CertificateBank) -> str:
    """The certificate as a verifier gets it: its credential's JSON, or its QR payload."""
    facts = certificate_facts(2)
    if request.param == "qr":
        return certificate_bank.payload(facts)
    return json.dumps(certificate_bank.sign(facts), ensure_ascii=False)


def judged(bank: CertificateBank, text: str) -> verify.Verdict:
    return verify.verify(text, bank.key_list(), bank.status_source, NOW)


def codes(verdict: verify.Verdict) -> list[str]:
    return [reason.code for reason in verdict.reasons]


def serve_resigned(bank: CertificateBank, url: str, **subject: Any) -> None:
    """The list at ``url`` with its subject changed, signed again by the bank's key."""
    document = json.loads(bank.served[url])
    del document["proof"]
    document["credentialSubject"].update(subject)
    key = bank.key
    signed = proofs.sign(document, key.private_key, key.method_id(bank.KEY_LIST), bank.now)
    bank.served[url] = json.dumps(signed)


def test_a_revoked_certificate_is_revoked(
    certificate_bank: CertificateBank, presented: str
) -> None:
    assert judged(certificate_bank, presented).genuine
    certificate_bank.lists[CertificateBank.REVOCATION][INDEX] = True
    certificate_bank.publish(at=NOW - timedelta(hours=1))
    verdict = judged(certificate_bank, presented)
    assert verdict.outcome is Outcome.REVOKED
    assert codes(verdict) == ["REVOKED"]
    assert verdict.status_as_of == NOW - timedelta(hours=1)
    assert (verdict.facts or verdict.claims) is not None  # what was signed is still shown


def test_a_suspension_lifted_makes_the_certificate_genuine_again(
    certificate_bank: CertificateBank, presented: str
) -> None:
    suspension = certificate_bank.lists[CertificateBank.SUSPENSION]
    suspension[INDEX] = True
    certificate_bank.publish()
    verdict = judged(certificate_bank, presented)
    assert verdict.outcome is Outcome.SUSPENDED
    assert codes(verdict) == ["SUSPENDED"]
    suspension[INDEX] = False
    certificate_bank.publish()
    assert judged(certificate_bank, presented).genuine


def test_a_neighbouring_bit_leaves_the_certificate_genuine(
    certificate_bank: CertificateBank, presented: str
) -> None:
    certificate_bank.lists[CertificateBank.REVOCATION][INDEX - 1] = True
    certificate_bank.lists[CertificateBank.REVOCATION][INDEX + 1] = True
    certificate_bank.publish()
    assert judged(certificate_bank, presented).genuine


def test_an_unreachable_status_list_is_never_genuine(
    certificate_bank: CertificateBank, presented: str
) -> None:
    certificate_bank.unreachable.add(CertificateBank.SUSPENSION)
    verdict = judged(certificate_bank, presented)
    assert verdict.outcome is Outcome.STATUS_UNAVAILABLE
    assert codes(verdict) == ["STATUS_RETRIEVAL_ERROR"]
    assert "connection refused" in verdict.reasons[0].message


def test_a_status_list_with_a_bad_signature_is_not_believed(
    certificate_bank: CertificateBank, presented: str
) -> None:
    """Someone serving a list of their own (the certificate revoked, the list says not)."""
    certificate_bank.lists[CertificateBank.REVOCATION][INDEX] = True
    certificate_bank.publish()
    assert judged(certificate_bank, presented).outcome is Outcome.REVOKED
    forged = json.loads(certificate_bank.served[CertificateBank.REVOCATION])
    forged["credentialSubject"]["encodedList"] = StatusList().encode()
    certificate_bank.served[CertificateBank.REVOCATION] = json.dumps(forged)
    verdict = judged(certificate_bank, presented)
    assert verdict.outcome is Outcome.STATUS_UNAVAILABLE
    assert codes(verdict) == ["STATUS_VERIFICATION_ERROR"]
    assert "signature does not match" in verdict.reasons[0].message


def test_a_status_list_signed_by_another_key_is_not_believed(
    certificate_bank: CertificateBank, presented: str, tmp_path: Any
) -> None:
    forger = CertificateBank(tmp_path / "forger", certificate_bank.now)
    certificate_bank.served[CertificateBank.REVOCATION] = forger.served[CertificateBank.REVOCATION]
    verdict = judged(certificate_bank, presented)
    assert codes(verdict) == ["STATUS_VERIFICATION_ERROR"]
    assert verdict.outcome is Outcome.STATUS_UNAVAILABLE


def test_a_status_list_too_short_is_a_length_error(
    certificate_bank: CertificateBank, presented: str
) -> None:
    short = multibase.encode_base64url(gzip.compress(bytes(MIN_ENTRIES // 8 - 1)))
    serve_resigned(certificate_bank, CertificateBank.REVOCATION, encodedList=short)
    verdict = judged(certificate_bank, presented)
    assert verdict.outcome is Outcome.STATUS_UNAVAILABLE
    assert codes(verdict) == ["STATUS_LIST_LENGTH_ERROR"]


def test_an_index_outside_the_list_is_a_range_error(certificate_bank: CertificateBank) -> None:
    facts = certificate_facts(status_index=MIN_ENTRIES)
    for text in (json.dumps(certificate_bank.sign(facts)), certificate_bank.payload(facts)):
        verdict = judged(certificate_bank, text)
        assert verdict.outcome is Outcome.STATUS_UNAVAILABLE
        assert codes(verdict) == ["RANGE_ERROR", "RANGE_ERROR"]
    last = certificate_facts(status_index=MIN_ENTRIES - 1)
    assert judged(certificate_bank, certificate_bank.payload(last)).genuine


def test_a_gzip_bomb_is_refused_without_inflating_it(
    certificate_bank: CertificateBank, presented: str
) -> None:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = bytes(1024 * 1024)
    bomb = b"".join(packer.compress(chunk) for _ in range(64)) + packer.flush()  # 64 MiB
    assert len(bomb) < 100_000
    serve_resigned(
        certificate_bank, CertificateBank.REVOCATION, encodedList=multibase.encode_base64url(bomb)
    )
    verdict = judged(certificate_bank, presented)
    assert verdict.outcome is Outcome.STATUS_UNAVAILABLE
    assert codes(verdict) == ["STATUS_LIST_LENGTH_ERROR"]
    assert "larger than allowed" in verdict.reasons[0].message


def test_a_list_of_the_other_purpose_is_refused(
    certificate_bank: CertificateBank, presented: str
) -> None:
    serve_resigned(certificate_bank, CertificateBank.REVOCATION, statusPurpose="suspension")
    verdict = judged(certificate_bank, presented)
    assert codes(verdict) == ["STATUS_VERIFICATION_ERROR"]
    assert "is for 'suspension', not revocation" in verdict.reasons[0].message


def test_a_list_past_its_valid_until_is_refused(certificate_bank: CertificateBank) -> None:
    url = CertificateBank.REVOCATION
    key = certificate_bank.key
    stale = status_list.list_credential(
        url,
        "revocation",
        StatusList(),
        CertificateBank.ISSUER,
        certificate_bank.now,
        key.private_key,
        key.method_id(CertificateBank.KEY_LIST),
        valid_until=NOW - timedelta(days=1),
    )
    certificate_bank.served[url] = json.dumps(stale)
    verdict = judged(certificate_bank, certificate_bank.payload(certificate_facts()))
    assert codes(verdict) == ["STATUS_VERIFICATION_ERROR"]
    assert "past its validUntil" in verdict.reasons[0].message


def test_index_zero_is_the_most_significant_bit_of_the_first_byte() -> None:
    bits = StatusList()
    bits[0] = True
    bits[9] = True
    assert bytes(bits.bits[:2]) == bytes([0b1000_0000, 0b0100_0000])
    decoded = StatusList.decode(bits.encode())
    assert decoded.length == MIN_ENTRIES
    assert [decoded[i] for i in (0, 1, 8, 9, 10)] == [True, False, False, True, False]
    with pytest.raises(CertificateError) as outside:
        decoded[MIN_ENTRIES]
    assert outside.value.code == "RANGE_ERROR"


def test_free_indexes_are_drawn_at_random_and_never_reused() -> None:
    rng = random.Random(7)
    used: set[int] = set()
    for _ in range(2000):
        index = status_list.pick_index(used, rng=rng)  # type: ignore[arg-type]
        assert index not in used and 0 <= index < MIN_ENTRIES
        used.add(index)
    # Spread over the whole list, not handed out in order.
    assert min(used) < MIN_ENTRIES // 10 and max(used) > MIN_ENTRIES * 9 // 10
    nearly_full = set(range(MIN_ENTRIES)) - {12_345}
    assert status_list.pick_index(nearly_full, rng=rng) == 12_345  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="full"):
        status_list.pick_index(set(range(MIN_ENTRIES)))
