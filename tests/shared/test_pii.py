"""Personal data at rest: encryption bound to its field, keyed lookup hashes, key files, masks."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.pii import (
    PiiCipher,
    generate_keys,
    load_cipher,
    mask_account_number,
    mask_document_number,
    mask_phone,
)

NUMBER = "33010219900307123X"
CONTEXT = "learner.document_number"
CIPHER = PiiCipher(b"k" * 32, b"h" * 32)


def test_round_trip() -> None:
    for plaintext in (NUMBER, "13812345678", "买买提·艾力", ""):
        blob = CIPHER.encrypt(plaintext, CONTEXT)
        assert blob[:1] == b"\x01" and len(blob) == 1 + 12 + len(plaintext.encode()) + 16
        assert CIPHER.decrypt(blob, CONTEXT) == plaintext
    assert NUMBER.encode() not in CIPHER.encrypt(NUMBER, CONTEXT)


@settings(max_examples=300, deadline=None)
@given(st.text(), st.text(min_size=1))
def test_property_round_trip_of_any_text(plaintext: str, context: str) -> None:
    assert CIPHER.decrypt(CIPHER.encrypt(plaintext, context), context) == plaintext


def test_a_ciphertext_opens_only_in_its_own_context() -> None:
    blob = CIPHER.encrypt(NUMBER, CONTEXT)
    with pytest.raises(InvalidTag):
        CIPHER.decrypt(blob, "learner.phone")


@pytest.mark.parametrize("position", [1, 12, 13, -1])  # nonce, last nonce byte, body, tag
def test_any_tampering_is_detected(position: int) -> None:
    blob = bytearray(CIPHER.encrypt(NUMBER, CONTEXT))
    blob[position] ^= 1
    with pytest.raises(InvalidTag):
        CIPHER.decrypt(bytes(blob), CONTEXT)


def test_another_key_cannot_open_it() -> None:
    with pytest.raises(InvalidTag):
        PiiCipher(b"K" * 32, b"h" * 32).decrypt(CIPHER.encrypt(NUMBER, CONTEXT), CONTEXT)


@pytest.mark.parametrize(
    ("blob", "message"),
    [(b"\x02" + bytes(40), "version"), (b"", "version"), (b"\x01" + bytes(27), "truncated")],
)
def test_foreign_or_truncated_blobs_are_refused(blob: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CIPHER.decrypt(blob, CONTEXT)


def test_same_plaintext_encrypts_differently_but_hashes_the_same() -> None:
    first, second = CIPHER.encrypt(NUMBER, CONTEXT), CIPHER.encrypt(NUMBER, CONTEXT)
    assert first[1:13] != second[1:13] and first != second  # a fresh nonce each time
    digest = CIPHER.lookup_hash("document:resident_id", NUMBER)
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert CIPHER.lookup_hash("document:resident_id", NUMBER) == digest


def test_lookup_hash_is_kind_separated_and_keyed() -> None:
    digest = CIPHER.lookup_hash("phone", "13812345678")
    assert CIPHER.lookup_hash("document:passport", "13812345678") != digest
    assert CIPHER.lookup_hash("phone", "13812345679") != digest
    # The NUL between kind and value: moving characters across it changes the hash.
    assert CIPHER.lookup_hash("a", "bc") != CIPHER.lookup_hash("ab", "c")
    assert PiiCipher(b"k" * 32, b"H" * 32).lookup_hash("phone", "13812345678") != digest


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=32, max_size=32), st.text(), st.text())
def test_property_lookup_hash_is_hmac_sha256_of_kind_nul_value(
    hash_key: bytes, kind: str, value: str
) -> None:
    # Every stored hash was written by hmac.new: the precomputed states must give the same.
    expected = hmac.new(hash_key, f"{kind}\x00{value}".encode(), hashlib.sha256).hexdigest()
    assert PiiCipher(b"k" * 32, hash_key).lookup_hash(kind, value) == expected


@pytest.mark.parametrize(("key", "hash_key"), [(b"short", b"h" * 32), (b"k" * 32, b"h" * 33)])
def test_keys_must_be_32_bytes(key: bytes, hash_key: bytes) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        PiiCipher(key, hash_key)


def test_key_file_round_trip_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "new" / "keys" / "pii.json"
    generate_keys(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert set(json.loads(path.read_text())) == {"key", "hash_key"}
    blob = load_cipher(path).encrypt(NUMBER, CONTEXT)
    assert load_cipher(path).decrypt(blob, CONTEXT) == NUMBER
    other = tmp_path / "other.json"
    generate_keys(other)
    with pytest.raises(InvalidTag):
        load_cipher(other).decrypt(blob, CONTEXT)


def test_key_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "pii.json"
    generate_keys(path)
    before = path.read_text()
    with pytest.raises(FileExistsError):
        generate_keys(path)
    assert path.read_text() == before


@pytest.mark.parametrize(
    ("mask", "number", "masked"),
    [
        (mask_document_number, NUMBER, "3301**********123X"),
        (mask_document_number, "M1234567890", "M********90"),
        (mask_document_number, "E12345678", "E******78"),
        (mask_document_number, "USA330102800101", "USA3*******0101"),
        (mask_document_number, "H1234567", "H*****67"),
        (mask_document_number, "K1234", "K**34"),
        (mask_document_number, "ABC", "***"),
        (mask_phone, "13812345678", "138****5678"),
        (mask_phone, "1381234567", "**********"),
        (mask_account_number, "ZJ202600000123", "ZJ********0123"),
        (mask_account_number, "ZJ0123", "******"),
    ],
)
def test_masks(mask: Callable[[str], str], number: str, masked: str) -> None:
    assert mask(number) == masked


def test_an_eighteen_character_mask_has_exactly_ten_stars() -> None:
    assert mask_document_number(NUMBER).count("*") == 10


MASKS = [mask_document_number, mask_phone, mask_account_number]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(MASKS), st.text("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ", min_size=1))
def test_property_a_mask_never_shows_the_whole_number(
    mask: Callable[[str], str], number: str
) -> None:
    masked = mask(number)
    assert len(masked) == len(number) and "*" in masked
    assert masked != number and number not in masked
