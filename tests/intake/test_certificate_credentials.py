"""Certificates as credentials: built from facts, signed, verified back to the same facts,
and every alteration of the JSON or the proof refused as not genuine, with its reason."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

from services.intake.certificates import credential, jcs, verify
from services.intake.certificates.errors import CertificateError
from services.intake.certificates.verify import Outcome
from tests.intake.conftest import CERTIFICATE_JUDGED, CertificateBank, certificate_facts

NOW = datetime.fromisoformat(CERTIFICATE_JUDGED)


@pytest.fixture(autouse=True)
def fresh_intake() -> Iterator[None]:
    """Pure: no tables to empty (this overrides the package's autouse fixture)."""
    yield


def judged(bank: CertificateBank, document: Any) -> verify.Verdict:
    text = document if isinstance(document, str) else json.dumps(document, ensure_ascii=False)
    return verify.verify(text, bank.key_list(), bank.status_source, NOW)


def codes(verdict: verify.Verdict) -> list[str]:
    return [reason.code for reason in verdict.reasons]


@pytest.mark.parametrize("outcomes", [1, 5], ids=["one outcome", "five outcomes"])
def test_a_signed_certificate_is_genuine_and_states_its_facts(
    certificate_bank: CertificateBank, outcomes: int
) -> None:
    facts = certificate_facts(outcomes)
    verdict = judged(certificate_bank, certificate_bank.sign(facts))
    assert verdict.outcome is Outcome.GENUINE, verdict.reasons
    assert verdict.reasons == ()
    assert verdict.facts == facts
    assert verdict.status_as_of is not None


def test_one_outcome_is_an_open_badge_and_several_a_clr_of_signed_badges(
    certificate_bank: CertificateBank,
) -> None:
    single = certificate_bank.sign(certificate_facts(1))
    several = certificate_bank.sign(certificate_facts(3))
    assert single["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert several["type"] == ["VerifiableCredential", "ClrCredential"]
    parts = several["credentialSubject"]["verifiableCredential"]
    assert [part["type"][1] for part in parts] == ["OpenBadgeCredential"] * 3
    # Each part stands alone: a learner may show one outcome and it still verifies.
    alone = judged(certificate_bank, parts[1])
    assert alone.outcome is Outcome.GENUINE, alone.reasons
    assert [o.code for o in alone.facts.outcomes] == ["LO-2025-0002"]  # type: ignore[union-attr]


def test_the_id_number_is_never_in_the_credential_only_its_salted_hash(
    certificate_bank: CertificateBank,
) -> None:
    text = json.dumps(certificate_bank.sign(certificate_facts(2)), ensure_ascii=False)
    assert "33010219900101123X" not in text
    facts = judged(certificate_bank, text).facts
    assert facts is not None
    assert credential.identity_matches(facts, "33010219900101123x")
    assert not credential.identity_matches(facts, "330102199001011231")


def test_reordered_and_reindented_json_still_verifies(certificate_bank: CertificateBank) -> None:
    signed = certificate_bank.sign(certificate_facts(2))

    def reordered(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: reordered(value[k]) for k in sorted(value, reverse=True)}
        if isinstance(value, list):
            return [reordered(v) for v in value]
        return value

    text = json.dumps(reordered(signed), indent=7, ensure_ascii=True)
    assert text != json.dumps(signed)
    assert judged(certificate_bank, text).outcome is Outcome.GENUINE


def edit_credits(d: dict[str, Any]) -> None:
    d["credentialSubject"]["creditsEarned"] = 30


def edit_part_credits(d: dict[str, Any]) -> None:
    d["credentialSubject"]["verifiableCredential"][0]["credentialSubject"]["creditsEarned"] = 30


def edit_name(d: dict[str, Any]) -> None:
    d["credentialSubject"]["identifier"][0]["identityHash"] = "王小朋"


def edit_valid_until(d: dict[str, Any]) -> None:
    d["validUntil"] = "2041-03-02T08:00:00Z"


def edit_review_date(d: dict[str, Any]) -> None:
    d["credentialSubject"]["reviewChain"][2]["date"] = "2026-02-25"


def edit_created(d: dict[str, Any]) -> None:
    d["proof"]["created"] = "2026-03-02T08:00:01Z"


def edit_signature_char(d: dict[str, Any]) -> None:
    value = d["proof"]["proofValue"]
    d["proof"]["proofValue"] = value[:-1] + ("2" if value[-1] != "2" else "3")


@pytest.mark.parametrize(
    ("outcomes", "edit"),
    [
        (1, edit_credits),
        (3, edit_part_credits),
        (1, edit_name),
        (3, edit_name),
        (1, edit_valid_until),
        (1, edit_review_date),
        (1, edit_created),
        (1, edit_signature_char),
    ],
    ids=[
        "credits 3 to 30",
        "a part's credits 3 to 30",
        "the name",
        "the name of a clr",
        "validUntil",
        "a review date",
        "proof created",
        "last character of the signature",
    ],
)
def test_a_one_value_change_to_a_signed_field_is_not_genuine(
    certificate_bank: CertificateBank, outcomes: int, edit: Callable[[dict[str, Any]], None]
) -> None:
    signed = certificate_bank.sign(certificate_facts(outcomes))
    assert judged(certificate_bank, signed).outcome is Outcome.GENUINE
    edit(signed)
    verdict = judged(certificate_bank, signed)
    assert verdict.outcome is Outcome.NOT_GENUINE
    assert verdict.facts is None
    assert codes(verdict) == ["PROOF_VERIFICATION_ERROR"]
    assert "signature does not match" in verdict.reasons[0].message


def test_a_random_signature_is_not_genuine(certificate_bank: CertificateBank) -> None:
    import os

    from services.intake.certificates import multibase

    signed = certificate_bank.sign(certificate_facts())
    signed["proof"]["proofValue"] = multibase.encode_base58btc(os.urandom(64))
    assert codes(judged(certificate_bank, signed)) == ["PROOF_VERIFICATION_ERROR"]


def test_another_keys_signature_under_the_banks_key_id_is_not_genuine(
    certificate_bank: CertificateBank, tmp_path: Any
) -> None:
    forger = CertificateBank(tmp_path / "forger", certificate_bank.now)
    forged = forger.sign(certificate_facts())
    # The forger names the bank's key: the signature is his own.
    forged["proof"]["verificationMethod"] = certificate_bank.key.method_id(CertificateBank.KEY_LIST)
    assert judged(forger, forged).outcome is Outcome.NOT_GENUINE
    verdict = judged(certificate_bank, forged)
    assert verdict.outcome is Outcome.NOT_GENUINE
    assert codes(verdict) == ["PROOF_VERIFICATION_ERROR"]


def test_an_unknown_key_id_is_not_genuine(certificate_bank: CertificateBank, tmp_path: Any) -> None:
    forger = CertificateBank(tmp_path / "forger", certificate_bank.now)
    verdict = judged(certificate_bank, forger.sign(certificate_facts()))
    assert verdict.outcome is Outcome.NOT_GENUINE
    assert codes(verdict) == ["UNKNOWN_KEY"]


@pytest.mark.parametrize(
    ("term", "value", "code"),
    [
        ("proofPurpose", "authentication", "PROOF_VERIFICATION_ERROR"),
        ("cryptosuite", "eddsa-rdfc-2022", "PROOF_VERIFICATION_ERROR"),
        ("type", "Ed25519Signature2020", "PROOF_VERIFICATION_ERROR"),
        ("@context", ["https://www.w3.org/ns/credentials/examples/v2"], "PROOF_VERIFICATION_ERROR"),
        ("created", "yesterday", "PROOF_VERIFICATION_ERROR"),
        ("previousProof", "urn:x", "UNKNOWN_TERM"),
    ],
    ids=["purpose", "cryptosuite", "type", "context", "created", "unknown proof term"],
)
def test_a_proof_with_a_swapped_field_is_not_genuine(
    certificate_bank: CertificateBank, term: str, value: Any, code: str
) -> None:
    signed = certificate_bank.sign(certificate_facts())
    signed["proof"][term] = value
    verdict = judged(certificate_bank, signed)
    assert verdict.outcome is Outcome.NOT_GENUINE
    assert codes(verdict) == [code]


@pytest.mark.parametrize(
    "place",
    ["credential", "credentialSubject", "achievement", "identifier", "reviewChain", "issuer"],
)
def test_a_term_not_in_the_vocabulary_is_refused_not_dropped(
    certificate_bank: CertificateBank, place: str
) -> None:
    signed = certificate_bank.sign(certificate_facts())
    subject = signed["credentialSubject"]
    target = {
        "credential": signed,
        "credentialSubject": subject,
        "achievement": subject["achievement"],
        "identifier": subject["identifier"][0],
        "reviewChain": subject["reviewChain"][0],
        "issuer": signed["issuer"],
    }[place]
    target["degreeAwarded"] = "博士"
    verdict = judged(certificate_bank, signed)
    assert verdict.outcome is Outcome.NOT_GENUINE
    assert codes(verdict) == ["UNKNOWN_TERM"]
    assert "'degreeAwarded' is not in the vocabulary" in verdict.reasons[0].message


def test_a_term_signed_by_the_bank_but_not_in_the_vocabulary_is_still_refused(
    certificate_bank: CertificateBank,
) -> None:
    """Signing does not make an unknown term acceptable: the vocabulary is checked first."""
    from services.intake.certificates import proofs

    signed = certificate_bank.sign(certificate_facts())
    del signed["proof"]
    signed["credentialSubject"]["degreeAwarded"] = "博士"
    key = certificate_bank.key
    resigned = proofs.sign(signed, key.private_key, key.method_id(CertificateBank.KEY_LIST), NOW)
    assert codes(judged(certificate_bank, resigned)) == ["UNKNOWN_TERM"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": 1, "a": 2}', "duplicate key 'a'"),
        ('{"a": 9007199254740993}', r"beyond 2\^53"),
        ('{"a": NaN}', "NaN is not JSON"),
        ('{"a": 1e400}', "out of range"),
        ('{"a": "\\ud800"}', "lone surrogate"),
        ('{"a": "e\u0301"}', "not in Unicode NFC"),
        ("[" * 5000 + "]" * 5000, "nested too deeply"),
        ('{"a": "' + "x" * 300_000 + '"}', "larger than"),
    ],
    ids=[
        "duplicate key",
        "integer past 2^53",
        "NaN",
        "infinity",
        "lone surrogate",
        "not NFC",
        "deep nesting",
        "over 256 KiB",
    ],
)
def test_the_json_reader_refuses_what_two_readers_could_read_differently(
    text: str, message: str
) -> None:
    with pytest.raises(CertificateError, match=message) as refused:
        jcs.loads(text)
    assert refused.value.code == "INVALID_JSON"
    assert jcs.loads('{"a": 1, "b": "e\u00e9", "c": 9007199254740991}')["c"] == 2**53 - 1


def test_a_credential_with_a_duplicate_key_is_not_genuine(
    certificate_bank: CertificateBank,
) -> None:
    text = json.dumps(certificate_bank.sign(certificate_facts()), ensure_ascii=False)
    doubled = text.replace('"creditsEarned": 3,', '"creditsEarned": 3, "creditsEarned": 30,', 1)
    assert doubled != text
    assert judged(certificate_bank, text).outcome is Outcome.GENUINE
    verdict = judged(certificate_bank, doubled)
    assert verdict.outcome is Outcome.NOT_GENUINE
    assert codes(verdict) == ["INVALID_JSON"]


def test_a_clr_whose_part_came_from_another_certificate_is_not_genuine(
    certificate_bank: CertificateBank,
) -> None:
    """Each part is genuine alone, but the outer proof binds the set: a swapped part breaks it,
    and a re-signed CLR of mismatched parts is refused for the mismatch."""
    ours = certificate_bank.sign(certificate_facts(2))
    other = certificate_bank.sign(certificate_facts(2, learner_name="李四"))
    ours["credentialSubject"]["verifiableCredential"][1] = other["credentialSubject"][
        "verifiableCredential"
    ][1]
    assert codes(judged(certificate_bank, ours)) == ["PROOF_VERIFICATION_ERROR"]


def test_a_credential_past_its_valid_until_is_expired_and_one_not_yet_valid_says_so(
    certificate_bank: CertificateBank,
) -> None:
    from datetime import timedelta

    ended = certificate_facts(valid_until=NOW - timedelta(minutes=6))
    verdict = judged(certificate_bank, certificate_bank.sign(ended))
    assert verdict.outcome is Outcome.EXPIRED
    assert codes(verdict) == ["EXPIRED"]
    assert verdict.facts == ended  # the signed facts are still shown
    within_skew = certificate_facts(valid_until=NOW - timedelta(minutes=4))
    assert judged(certificate_bank, certificate_bank.sign(within_skew)).genuine
    ahead = certificate_facts(valid_from=NOW + timedelta(minutes=6))
    assert codes(judged(certificate_bank, certificate_bank.sign(ahead))) == ["NOT_YET_VALID"]
    soon = certificate_facts(valid_from=NOW + timedelta(minutes=4))
    assert judged(certificate_bank, certificate_bank.sign(soon)).genuine


def test_a_credential_of_fifty_outcomes_fits_under_the_size_cap(
    certificate_bank: CertificateBank,
) -> None:
    text = json.dumps(certificate_bank.sign(certificate_facts(50)), ensure_ascii=False)
    assert len(text.encode()) < jcs.MAX_BYTES
    assert judged(certificate_bank, text).genuine


@pytest.mark.parametrize(
    "changes",
    [
        {"learner_name": "e\u0301"},
        {"number": "ZJ 2026"},
        {"id_salt": "not hex"},
    ],
    ids=["a name not in NFC", "a number with a space", "a salt not in hex"],
)
def test_facts_a_verifier_would_refuse_are_refused_at_signing(
    certificate_bank: CertificateBank, changes: dict[str, Any]
) -> None:
    with pytest.raises(CertificateError):
        certificate_bank.sign(certificate_facts(**changes))
    assert certificate_bank.sign(certificate_facts())["proof"]["proofValue"].startswith("z")
