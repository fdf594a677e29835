"""Data Integrity proofs, cryptosuite ``eddsa-jcs-2022`` (W3C vc-di-eddsa v1.0, §3.3).

hashData = SHA-256(JCS(proof configuration)) ‖ SHA-256(JCS(document without its proof)), the
configuration being the proof without ``proofValue`` and carrying the document's ``@context``;
the Ed25519 signature of hashData is the ``proofValue``, ``z`` + base58btc. No JSON-LD is
processed: what is signed is the JSON itself, so an unknown term cannot vanish from what is
signed (it would under RDF canonicalisation); the credential's vocabulary is checked apart
(``vocabulary.py``). Checked in order, each refusal a ``CertificateError``
(PROOF_VERIFICATION_ERROR): one proof, its type, cryptosuite and purpose, its ``created``,
its ``@context`` a prefix of the document's, its key known, then the signature.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.intake.certificates import jcs, multibase
from services.intake.certificates.errors import CertificateError

TYPE = "DataIntegrityProof"
CRYPTOSUITE = "eddsa-jcs-2022"
PURPOSE = "assertionMethod"
PROOF_TERMS = frozenset(
    ("type", "cryptosuite", "created", "verificationMethod", "proofPurpose", "@context")
) | {"proofValue"}
ERROR = "PROOF_VERIFICATION_ERROR"


class HasPublicKey(Protocol):
    @property
    def public_key(self) -> Ed25519PublicKey: ...


K = TypeVar("K", bound=HasPublicKey)


@dataclass(frozen=True)
class Verified(Generic[K]):
    """A proof whose signature holds: the key that made it and when the proof says it did."""

    key: K
    verification_method: str
    created: datetime


def canonical_document(document: Mapping[str, Any]) -> bytes:
    """JCS of the document without its proof (the vectors' ``canonDocJCS``)."""
    return jcs.canonical({k: v for k, v in document.items() if k != "proof"})


def canonical_proof_config(proof: Mapping[str, Any]) -> bytes:
    """JCS of the proof without ``proofValue`` (the vectors' ``proofCanonJCS``)."""
    return jcs.canonical({k: v for k, v in proof.items() if k != "proofValue"})


def hash_data(document: Mapping[str, Any], proof: Mapping[str, Any]) -> bytes:
    """The 64 bytes signed (the vectors' ``combinedHashJCS``)."""
    return (
        hashlib.sha256(canonical_proof_config(proof)).digest()
        + hashlib.sha256(canonical_document(document)).digest()
    )


def sign(
    document: Mapping[str, Any],
    key: Ed25519PrivateKey,
    verification_method: str,
    created: datetime,
) -> dict[str, Any]:
    """A copy of ``document`` (which must have no proof) with an eddsa-jcs-2022 proof."""
    if "proof" in document:
        raise ValueError("the document already has a proof")
    proof: dict[str, Any] = {
        "type": TYPE,
        "cryptosuite": CRYPTOSUITE,
        "created": format_datetime(created),
        "verificationMethod": verification_method,
        "proofPurpose": PURPOSE,
    }
    if "@context" in document:
        proof["@context"] = document["@context"]
    proof["proofValue"] = multibase.encode_base58btc(key.sign(hash_data(document, proof)))
    return {**document, "proof": proof}


def verify(document: Mapping[str, Any], resolve: Callable[[str], Sequence[K]]) -> Verified[K]:
    """The key (among those ``resolve`` gives for the verification method) that signed.

    ``resolve`` returns every key the method may name (two keys may share a key id: each is
    tried); none refuses as an unknown key. Raises ``CertificateError`` (PROOF_VERIFICATION_ERROR)
    with the first thing found wrong.
    """
    proof = _proof(document)
    created = _created(proof)
    _check_context(document, proof)
    signature = multibase.decode_base58btc(proof["proofValue"])
    if len(signature) != 64:
        raise CertificateError(ERROR, "the proofValue is not a 64-byte Ed25519 signature")
    method = proof["verificationMethod"]
    keys = resolve(method)
    if not keys:
        raise CertificateError("UNKNOWN_KEY", f"the key {method} is not in the key list")
    unsecured = {k: v for k, v in document.items() if k != "proof"}
    if "@context" in proof:
        unsecured["@context"] = proof["@context"]
    data = hash_data(unsecured, proof)
    for key in keys:
        try:
            key.public_key.verify(signature, data)
        except InvalidSignature:
            continue
        return Verified(key, method, created)
    raise CertificateError(ERROR, "the signature does not match the document")


def _proof(document: Mapping[str, Any]) -> Mapping[str, Any]:
    proof = document.get("proof")
    if isinstance(proof, list):
        raise CertificateError(ERROR, "a proof set is not accepted: one proof only")
    if not isinstance(proof, Mapping):
        raise CertificateError(ERROR, "the document has no proof")
    unknown = set(proof) - PROOF_TERMS
    if unknown:
        raise CertificateError("UNKNOWN_TERM", f"unknown proof term {sorted(unknown)[0]!r}")
    for term, expected in (("type", TYPE), ("cryptosuite", CRYPTOSUITE), ("proofPurpose", PURPOSE)):
        if proof.get(term) != expected:
            found = proof.get(term)
            raise CertificateError(ERROR, f"the proof's {term} is {found!r}, not {expected}")
    for term in ("verificationMethod", "proofValue"):
        if not isinstance(proof.get(term), str):
            raise CertificateError(ERROR, f"the proof has no {term}")
    return proof


def _created(proof: Mapping[str, Any]) -> datetime:
    created = proof.get("created")
    if not isinstance(created, str):
        raise CertificateError(ERROR, "the proof has no created date")
    try:
        return parse_datetime(created)
    except ValueError as exc:
        raise CertificateError(ERROR, "the proof's created is not a date and time") from exc


def _check_context(document: Mapping[str, Any], proof: Mapping[str, Any]) -> None:
    if "@context" not in proof:
        return
    theirs, ours = proof["@context"], document.get("@context")
    theirs = theirs if isinstance(theirs, list) else [theirs]
    ours = ours if isinstance(ours, list) else [ours]
    if not theirs or ours[: len(theirs)] != theirs:
        raise CertificateError(ERROR, "the proof's @context is not the document's")


def format_datetime(moment: datetime) -> str:
    """XML Schema dateTime in UTC to the second: ``2026-03-01T08:00:00Z``."""
    if moment.tzinfo is None:
        raise ValueError("a naive datetime: give it a time zone")
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_datetime(text: str) -> datetime:
    """A dateTime with its zone (``Z`` or ±hh:mm); ``ValueError`` otherwise."""
    if not isinstance(text, str) or "T" not in text:
        raise ValueError("not a dateTime")
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("a dateTime without a time zone")
    return moment.astimezone(UTC)
