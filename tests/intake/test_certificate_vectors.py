"""eddsa-jcs-2022 against the W3C test vectors (tests/intake/vectors/eddsa-jcs-2022/README.md
says where they come from): every intermediate value and the proof, byte for byte."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.intake.certificates import multibase, proofs
from services.intake.certificates.errors import CertificateError

VECTORS = Path(__file__).parent / "vectors" / "eddsa-jcs-2022"


@pytest.fixture(autouse=True)
def fresh_intake() -> Iterator[None]:
    """Pure: no tables to empty (this overrides the package's autouse fixture)."""
    yield


def text(name: str) -> str:
    return (VECTORS / name).read_text().strip()


def document(name: str) -> Any:
    return json.loads((VECTORS / name).read_text())


@dataclass(frozen=True)
class DidKey:
    public_key: Ed25519PublicKey


PAIR = document("keyPair.json")
PRIVATE = Ed25519PrivateKey.from_private_bytes(
    multibase.decode_private_key(PAIR["privateKeyMultibase"])
)
PUBLIC = multibase.decode_public_key(PAIR["publicKeyMultibase"])
METHOD = f"did:key:{PAIR['publicKeyMultibase']}#{PAIR['publicKeyMultibase']}"


def resolve(method: str) -> list[DidKey]:
    return [DidKey(Ed25519PublicKey.from_public_bytes(PUBLIC))] if method == METHOD else []


def test_the_key_pair_decodes_to_one_ed25519_key() -> None:
    assert PRIVATE.public_key().public_bytes_raw() == PUBLIC
    assert multibase.encode_public_key(PUBLIC) == PAIR["publicKeyMultibase"]
    assert multibase.encode_private_key(PRIVATE.private_bytes_raw()) == PAIR["privateKeyMultibase"]


def test_the_canonical_document_proof_config_and_hash_are_the_vectors() -> None:
    unsigned, config = document("unsigned.json"), document("proofConfigJCS.json")
    assert proofs.canonical_document(unsigned).decode() == text("canonDocJCS.txt")
    assert proofs.canonical_proof_config(config).decode() == text("proofCanonJCS.txt")
    assert proofs.hash_data(unsigned, config).hex() == text("combinedHashJCS.txt")


def test_signing_the_unsigned_vector_gives_the_signed_vector_byte_for_byte() -> None:
    created = datetime.fromisoformat(document("proofConfigJCS.json")["created"])
    signed = proofs.sign(document("unsigned.json"), PRIVATE, METHOD, created)
    assert signed["proof"]["proofValue"] == text("sigBTC58JCS.txt")
    assert multibase.decode_base58btc(text("sigBTC58JCS.txt")).hex() == text("sigHexJCS.txt")
    assert signed == document("signedJCS.json")


def test_the_signed_vector_verifies_and_a_one_letter_edit_does_not() -> None:
    signed = document("signedJCS.json")
    assert proofs.verify(signed, resolve).created.isoformat() == "2023-02-24T23:36:38+00:00"
    signed["credentialSubject"]["alumniOf"] = "The School of Examplez"
    with pytest.raises(CertificateError, match="signature does not match"):
        proofs.verify(signed, resolve)
