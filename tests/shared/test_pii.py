"""Personal data at rest: encryption bound to its field, keyed lookup hashes, masks."""

from __future__ import annotations

import stat

import pytest
from cryptography.exceptions import InvalidTag

from shared.pii import (
    PiiCipher,
    generate_keys,
    load_cipher,
    mask_account_number,
    mask_document_number,
    mask_phone,
)

NUMBER = "33010219900307123X"


def test_round_trip_bound_to_its_field(tmp_path) -> None:
    generate_keys(tmp_path / "k.json")
    assert stat.S_IMODE((tmp_path / "k.json").stat().st_mode) == 0o600
    cipher = load_cipher(tmp_path / "k.json")
    blob = cipher.encrypt(NUMBER, "learner.document_number")
    assert NUMBER.encode() not in blob
    assert cipher.decrypt(blob, "learner.document_number") == NUMBER
    with pytest.raises(InvalidTag):
        cipher.decrypt(blob, "learner.phone")
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(InvalidTag):
        cipher.decrypt(tampered, "learner.document_number")
    assert cipher.encrypt(NUMBER, "x") != cipher.encrypt(NUMBER, "x")  # a fresh nonce each time


def test_lookup_hash_is_stable_keyed_and_kind_separated(tmp_path) -> None:
    a, b = PiiCipher(b"k" * 32, b"h" * 32), PiiCipher(b"k" * 32, b"H" * 32)
    assert a.lookup_hash("document:resident_id", NUMBER) == a.lookup_hash(
        "document:resident_id", NUMBER
    )
    assert a.lookup_hash("document:resident_id", NUMBER) != a.lookup_hash("phone", NUMBER)
    assert a.lookup_hash("phone", NUMBER) != b.lookup_hash("phone", NUMBER)
    with pytest.raises(ValueError):
        PiiCipher(b"short", b"h" * 32)


def test_masks_never_show_the_number() -> None:
    assert mask_document_number(NUMBER) == "3301**********123X"
    assert mask_document_number("H1234567") == "H*****67"
    assert mask_phone("13812345678") == "138****5678"
    assert mask_account_number("ZJ202600000123") == "ZJ********0123"
    for number, mask in (
        (NUMBER, mask_document_number),
        ("13812345678", mask_phone),
        ("E12345678", mask_document_number),
    ):
        assert mask(number) != number and number not in mask(number)
