"""The offline QR payload (``ZJCB1:`` + Base45 of zlib of COSE_Sign1): genuine ones read
back to their claims and fit a QR code at error correction Q; every malformed, forged or
oversized one is refused with its reason, within bounded work.

Measured with segno at error correction Q (the test facts: issuer and list URLs of ~60
characters, outcome codes like LO-2025-0001): one outcome 449 characters, version 16;
five outcomes 466-475 characters, version 16 or 17 (v16 holds 470), alphanumeric mode both;
the length moves by a few characters with the key (zlib over the random kid and signature).
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import base45
import cbor2
import pytest
import segno

from services.intake.certificates import cose, verify
from services.intake.certificates.cose import MAX_COSE_BYTES, MAX_TEXT, PREFIX, PROTECTED
from services.intake.certificates.verify import Outcome
from tests.intake.conftest import CERTIFICATE_JUDGED, CertificateBank, certificate_facts

NOW = datetime.fromisoformat(CERTIFICATE_JUDGED)


@pytest.fixture(autouse=True)
def fresh_intake() -> Iterator[None]:
    """Pure: no tables to empty (this overrides the package's autouse fixture)."""
    yield


def judged(bank: CertificateBank, text: str) -> verify.Verdict:
    return verify.verify(text, bank.key_list(), bank.status_source, NOW)


def codes(verdict: verify.Verdict) -> list[str]:
    return [reason.code for reason in verdict.reasons]


def unpack(text: str) -> list[Any]:
    tag = cbor2.loads(zlib.decompress(base45.b45decode(text[len(PREFIX) :])))
    return list(tag.value)


def pack(message: Any) -> str:
    data = message if isinstance(message, bytes) else cbor2.dumps(message)
    return PREFIX + base45.b45encode(zlib.compress(data)).decode()


def sign1(parts: list[Any], tag: int = 18) -> str:
    return pack(cbor2.CBORTag(tag, parts))


@pytest.mark.parametrize(("outcomes", "version"), [(1, 16), (5, 17)], ids=["one", "five"])
def test_a_payload_reads_back_to_its_claims_and_fits_a_qr_code_at_q(
    certificate_bank: CertificateBank, outcomes: int, version: int
) -> None:
    facts = certificate_facts(outcomes)
    text = certificate_bank.payload(facts)
    verdict = judged(certificate_bank, text)
    assert verdict.outcome is Outcome.GENUINE, verdict.reasons
    assert verdict.claims == cose.claims_of(facts, CertificateBank.ISSUER)
    assert verdict.claims.id_hash_prefix == facts.id_hash.removeprefix("sha256$")[:32]
    qr = segno.make(text, error="q", micro=False, boost_error=False)
    assert (qr.mode, qr.error) == ("alphanumeric", "Q")
    assert 15 <= qr.version <= version, (len(text), qr.version)


def test_the_cose_message_is_sign1_with_eddsa_and_the_kid(
    certificate_bank: CertificateBank,
) -> None:
    protected, unprotected, payload, signature = unpack(
        certificate_bank.payload(certificate_facts())
    )
    assert cbor2.loads(protected) == {1: -8}
    assert dict(unprotected) == {4: certificate_bank.key.info.kid}
    assert len(certificate_bank.key.info.kid) == 8 and len(signature) == 64
    claims = cbor2.loads(payload)
    assert claims[1] == CertificateBank.ISSUER and 6 in claims and 4 in claims
    # The signature is over Sig_structure, so anyone's COSE library checks it the same way.
    to_be_signed = cbor2.dumps(["Signature1", protected, b"", payload])
    certificate_bank.key.info.public_key.verify(signature, to_be_signed)


def test_a_one_byte_change_to_the_claims_is_not_genuine(certificate_bank: CertificateBank) -> None:
    protected, unprotected, payload, signature = unpack(
        certificate_bank.payload(certificate_facts())
    )
    changed = payload.replace("王小明".encode(), "王小朋".encode())
    assert changed != payload
    verdict = judged(certificate_bank, sign1([protected, unprotected, changed, signature]))
    assert verdict.outcome is Outcome.NOT_GENUINE
    assert codes(verdict) == ["PROOF_VERIFICATION_ERROR"]
    assert verdict.claims is None


def test_a_random_signature_is_not_genuine(certificate_bank: CertificateBank) -> None:
    protected, unprotected, payload, _ = unpack(certificate_bank.payload(certificate_facts()))
    forged = sign1([protected, unprotected, payload, os.urandom(64)])
    assert codes(judged(certificate_bank, forged)) == ["PROOF_VERIFICATION_ERROR"]


def test_another_keys_payload_is_an_unknown_key(
    certificate_bank: CertificateBank, tmp_path: Any
) -> None:
    forger = CertificateBank(tmp_path / "forger", certificate_bank.now)
    text = forger.payload(certificate_facts())
    assert judged(forger, text).genuine
    assert codes(judged(certificate_bank, text)) == ["UNKNOWN_KEY"]
    # ... and under the bank's kid, his signature does not hold.
    protected, _, payload, signature = unpack(text)
    borrowed = sign1([protected, {4: certificate_bank.key.info.kid}, payload, signature])
    assert codes(judged(certificate_bank, borrowed)) == ["PROOF_VERIFICATION_ERROR"]


def good(bank: CertificateBank) -> str:
    return bank.payload(certificate_facts())


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda t: "HC1:" + t[len(PREFIX) :], "PAYLOAD_PREFIX"),
        (lambda t: t.lower(), "PAYLOAD_PREFIX"),
        (lambda t: t[:10] + "a" + t[11:], "PAYLOAD_ENCODING"),
        (lambda t: PREFIX + "GGW", "PAYLOAD_ENCODING"),
        (lambda t: t[: len(t) // 2 // 3 * 3], "PAYLOAD_TRUNCATED"),
        (lambda t: PREFIX + "0" * MAX_TEXT, "PAYLOAD_TOO_LARGE"),
        (lambda t: pack(bytes(MAX_COSE_BYTES + 1)), "PAYLOAD_TOO_LARGE"),
        (lambda t: PREFIX + base45.b45encode(b"not zlib at all").decode(), "PAYLOAD_ENCODING"),
        (lambda t: pack(b"\xff\xff\xff"), "PAYLOAD_NOT_COSE"),
        (lambda t: pack({"hello": "world"}), "PAYLOAD_NOT_COSE"),
        (lambda t: sign1(unpack(t), tag=98), "PAYLOAD_NOT_COSE"),
        (lambda t: sign1(unpack(t)[:3]), "PAYLOAD_NOT_COSE"),
        (lambda t: sign1([cbor2.dumps({1: -7}), *unpack(t)[1:]]), "PAYLOAD_NOT_COSE"),
        (lambda t: sign1([cbor2.dumps({}), *unpack(t)[1:]]), "PAYLOAD_NOT_COSE"),
        (lambda t: sign1([PROTECTED, {4: b"\x00" * 8}, *unpack(t)[2:]]), "UNKNOWN_KEY"),
        (lambda t: sign1([PROTECTED, {}, *unpack(t)[2:]]), "PAYLOAD_NOT_COSE"),
        (lambda t: pack(cbor2.dumps(cbor2.CBORTag(18, unpack(t))) + b"\x00"), "PAYLOAD_NOT_COSE"),
    ],
    ids=[
        "another prefix",
        "lower case",
        "a character outside base45",
        "a base45 triple past 65535",
        "truncated",
        "longer than any qr code",
        "inflates past the cap",
        "not zlib",
        "not cbor",
        "cbor but not cose",
        "wrong tag",
        "three parts",
        "alg es256",
        "no alg",
        "unknown kid",
        "no kid",
        "bytes after the message",
    ],
)
def test_a_malformed_payload_is_refused_with_its_reason(
    certificate_bank: CertificateBank, make: Any, code: str
) -> None:
    assert judged(certificate_bank, good(certificate_bank)).genuine
    verdict = judged(certificate_bank, make(good(certificate_bank)))
    assert verdict.outcome is Outcome.NOT_GENUINE
    assert codes(verdict) == [code]


def test_a_zlib_bomb_is_refused_after_inflating_only_the_cap(
    certificate_bank: CertificateBank,
) -> None:
    bomb = PREFIX + base45.b45encode(zlib.compress(bytes(50 * 1024 * 1024), 9)).decode()
    assert len(bomb) < MAX_TEXT * 20  # short as a text, huge inflated
    from services.intake.certificates.errors import CertificateError

    with pytest.raises(CertificateError) as refused:
        cose._inflate(base45.b45decode(bomb[len(PREFIX) :]))
    assert refused.value.code == "PAYLOAD_TOO_LARGE"
