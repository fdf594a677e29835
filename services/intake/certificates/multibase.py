"""Multibase and Multikey: base58btc (``z``) and base64url (``u``) texts, Ed25519 keys.

base58btc is the Bitcoin alphabet, leading zero bytes written as ``1``; it is short enough to
hold here rather than depend on a package for it. A Multikey is the multicodec prefix of the
key's kind (``0xed01`` an Ed25519 public key, ``0x8026`` an Ed25519 private key: varints of
0xed and 0x1300) followed by the raw key, in base58btc.
"""

from __future__ import annotations

import base64
import binascii

from services.intake.certificates.errors import CertificateError

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(ALPHABET)}
ED25519_PUBLIC = b"\xed\x01"
ED25519_PRIVATE = b"\x80\x26"
KEY_SIZE = 32
# The longest text decoded: a 64-byte signature is 88 characters; a bound keeps a hostile
# text from costing quadratic time in the big-integer arithmetic.
MAX_BASE58 = 1024


def b58encode(data: bytes) -> str:
    number, text = int.from_bytes(data, "big"), ""
    while number:
        number, digit = divmod(number, 58)
        text = ALPHABET[digit] + text
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + text


def b58decode(text: str) -> bytes:
    """The bytes of a base58btc text; ``CertificateError`` (MULTIBASE_ERROR) if it is not one."""
    if len(text) > MAX_BASE58:
        raise CertificateError("MULTIBASE_ERROR", "base58btc text too long")
    number = 0
    for char in text:
        if char not in _INDEX:
            raise CertificateError("MULTIBASE_ERROR", f"{char!r} is not a base58btc character")
        number = number * 58 + _INDEX[char]
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * (len(text) - len(text.lstrip("1"))) + body


def encode_base58btc(data: bytes) -> str:
    """Multibase base58btc: ``z`` then the base58btc text."""
    return "z" + b58encode(data)


def decode_base58btc(text: str) -> bytes:
    if not isinstance(text, str) or not text.startswith("z"):
        raise CertificateError("MULTIBASE_ERROR", "not a base58btc multibase value (no 'z')")
    return b58decode(text[1:])


def encode_base64url(data: bytes) -> str:
    """Multibase base64url without padding: ``u`` then the text."""
    return "u" + base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode_base64url(text: str, max_chars: int) -> bytes:
    """The bytes of a ``u`` multibase text of at most ``max_chars`` characters."""
    if not isinstance(text, str) or not text.startswith("u"):
        raise CertificateError("MULTIBASE_ERROR", "not a base64url multibase value (no 'u')")
    if len(text) > max_chars:
        raise CertificateError("MULTIBASE_ERROR", "base64url value too long")
    body = text[1:]
    if not body.isascii() or "=" in body:
        raise CertificateError("MULTIBASE_ERROR", "base64url value has padding or non-ASCII")
    try:
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError) as exc:
        raise CertificateError("MULTIBASE_ERROR", "bad base64url value") from exc


def encode_public_key(raw: bytes) -> str:
    """The Multikey ``publicKeyMultibase`` of a raw 32-byte Ed25519 public key (``z6Mk...``)."""
    return encode_base58btc(ED25519_PUBLIC + _raw(raw))


def decode_public_key(text: str) -> bytes:
    """The raw 32 bytes of an Ed25519 Multikey; refuses another key type or length."""
    return _unprefixed(decode_base58btc(text), ED25519_PUBLIC, "Ed25519 public")


def encode_private_key(raw: bytes) -> str:
    """The Multikey ``secretKeyMultibase`` of a raw 32-byte Ed25519 private key."""
    return encode_base58btc(ED25519_PRIVATE + _raw(raw))


def decode_private_key(text: str) -> bytes:
    return _unprefixed(decode_base58btc(text), ED25519_PRIVATE, "Ed25519 private")


def _raw(raw: bytes) -> bytes:
    if len(raw) != KEY_SIZE:
        raise CertificateError("MULTIBASE_ERROR", f"an Ed25519 key is {KEY_SIZE} bytes")
    return raw


def _unprefixed(data: bytes, prefix: bytes, what: str) -> bytes:
    if data[:2] != prefix or len(data) != 2 + KEY_SIZE:
        raise CertificateError("MULTIBASE_ERROR", f"not an {what} Multikey")
    return data[2:]
