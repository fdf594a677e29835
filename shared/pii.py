"""Personal data at rest: AES-256-GCM encryption, keyed hashes for lookups, masks for display.

Names, ID and phone numbers and e-mail addresses are stored only encrypted, with the field's
name as associated data (a ciphertext moved to another column does not open), and beside them
an HMAC-SHA256 under a second key, so "is this document already known?" is an indexed
equality, never a decryption. Screens and logs get masks, which keep just enough of a value
for a person to recognise it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = b"\x01"
KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16


class PiiCipher:
    """Encrypts personal data bound to where it is stored, and hashes it for exact lookups.

    Two keys, so that the lookup hashes (which must be stable) never share a key with the
    encryption (whose output must not be): leaking one does not weaken the other.
    """

    def __init__(self, key: bytes, hash_key: bytes) -> None:
        if len(key) != KEY_SIZE or len(hash_key) != KEY_SIZE:
            raise ValueError(f"personal-data keys must be {KEY_SIZE} bytes each")
        self._aead = AESGCM(key)
        # The keyed HMAC made once; a lookup copies it (a bulk import hashes five values a
        # row, and hmac.new costs a third more than a copy).
        self._hmac = hmac.new(hash_key, digestmod=hashlib.sha256)

    def encrypt(self, plaintext: str, context: str) -> bytes:
        """Version byte, a fresh random nonce, then the ciphertext with its tag.

        ``context`` (e.g. ``"learner.document_number"``) is authenticated, not stored: the
        blob opens only where it was written.
        """
        return self.encrypt_bytes(plaintext.encode(), context)

    def decrypt(self, blob: bytes, context: str) -> str:
        """The plaintext; ``cryptography.exceptions.InvalidTag`` if blob or context is wrong."""
        return self.decrypt_bytes(blob, context).decode()

    def encrypt_bytes(self, plaintext: bytes, context: str) -> bytes:
        """``encrypt`` for bytes: whole files holding personal data (a bulk import's)."""
        nonce = os.urandom(NONCE_SIZE)
        return VERSION + nonce + self._aead.encrypt(nonce, plaintext, context.encode())

    def decrypt_bytes(self, blob: bytes, context: str) -> bytes:
        if blob[:1] != VERSION:
            raise ValueError("unknown personal-data ciphertext version")
        if len(blob) < 1 + NONCE_SIZE + TAG_SIZE:
            raise ValueError("personal-data ciphertext is truncated")
        nonce, sealed = blob[1 : 1 + NONCE_SIZE], blob[1 + NONCE_SIZE :]
        return self._aead.decrypt(nonce, sealed, context.encode())

    def lookup_hash(self, kind: str, value: str) -> str:
        """A stable keyed hash (64 hex characters) for finding ``value`` by equality.

        ``kind`` goes in first, NUL-separated, so the same digits as a phone and as a document
        number never collide, and no kind/value split can pass for another.
        """
        keyed = self._hmac.copy()
        keyed.update(f"{kind}\x00{value}".encode())
        return keyed.hexdigest()


def generate_keys(path: Path) -> None:
    """Write a new key file readable by its owner only.

    Refuses to overwrite an existing file (``FileExistsError``): replacing the keys would
    leave every stored number unreadable and every lookup hash unmatched.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = {name: base64.b64encode(os.urandom(KEY_SIZE)).decode() for name in ("key", "hash_key")}
    # Created with mode 0600 rather than chmod-ed after, so the keys are never readable by others.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(keys, fh)


def load_cipher(path: Path) -> PiiCipher:
    """The cipher of a key file written by ``generate_keys``."""
    keys = json.loads(path.read_text())
    return PiiCipher(base64.b64decode(keys["key"]), base64.b64decode(keys["hash_key"]))


def _mask(value: str, head: int, tail: int) -> str:
    return value[:head] + "*" * (len(value) - head - tail) + value[len(value) - tail :]


def mask_document_number(number: str) -> str:
    """``3301**********123X`` for the 15- and 18-character cards; shorter numbers (passports,
    travel permits) keep one in front and two behind, so at least half is always hidden.

    Three characters or fewer are all stars: keeping three would show the whole number.
    """
    if len(number) >= 15:
        return _mask(number, 4, 4)
    return _mask(number, 1, 2) if len(number) > 3 else "*" * len(number)


def mask_phone(number: str) -> str:
    """``138****5678``; anything that is not eleven characters is all stars."""
    return _mask(number, 3, 4) if len(number) == 11 else "*" * len(number)


def mask_email(address: str) -> str:
    """``z***@example.com``: the first character of the local part and the domain."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def mask_name(name: str) -> str:
    """``张*`` for two characters, ``欧**`` ... ``张*丰`` for three or more (the first and the
    last kept), ``*`` for one: enough to recognise the person in front of you, not to learn
    who someone is."""
    if len(name) <= 1:
        return "*" * len(name)
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_account_number(number: str) -> str:
    """The first two and last four characters; six or fewer are all stars."""
    return _mask(number, 2, 4) if len(number) > 6 else "*" * len(number)
