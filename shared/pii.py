"""Personal data at rest: AES-256-GCM encryption, keyed hashes for lookups, masks for display.

ID and phone numbers are stored only encrypted, with the field's name as associated data (a
ciphertext moved to another column does not open), and beside them an HMAC-SHA256 under a
second key, so "is this document already known?" is an indexed equality, never a decryption.
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


class PiiCipher:
    def __init__(self, key: bytes, hash_key: bytes) -> None:
        if len(key) != 32 or len(hash_key) != 32:
            raise ValueError("personal-data keys must be 32 bytes each")
        self._aead, self._hash_key = AESGCM(key), hash_key

    def encrypt(self, plaintext: str, context: str) -> bytes:
        nonce = os.urandom(12)
        return VERSION + nonce + self._aead.encrypt(nonce, plaintext.encode(), context.encode())

    def decrypt(self, blob: bytes, context: str) -> str:
        if blob[:1] != VERSION:
            raise ValueError("unknown personal-data ciphertext version")
        return self._aead.decrypt(blob[1:13], blob[13:], context.encode()).decode()

    def lookup_hash(self, kind: str, value: str) -> str:
        message = f"{kind}\x00{value}".encode()
        return hmac.new(self._hash_key, message, hashlib.sha256).hexdigest()


def generate_keys(path: Path) -> None:
    """Write a new key file (mode 0600): losing it loses every stored number."""
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = {name: base64.b64encode(os.urandom(32)).decode() for name in ("key", "hash_key")}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(keys, fh)


def load_cipher(path: Path) -> PiiCipher:
    keys = json.loads(path.read_text())
    return PiiCipher(base64.b64decode(keys["key"]), base64.b64decode(keys["hash_key"]))


def mask_document_number(number: str) -> str:
    """``3301**********123X``; short numbers keep their first and last two characters."""
    if len(number) > 8:
        return number[:4] + "*" * (len(number) - 8) + number[-4:]
    if len(number) <= 3:
        return "*" * len(number)
    return number[:1] + "*" * (len(number) - 3) + number[-2:]


def mask_phone(number: str) -> str:
    return number[:3] + "****" + number[-4:] if len(number) == 11 else "*" * len(number)


def mask_account_number(number: str) -> str:
    if len(number) <= 6:
        return "*" * len(number)
    return number[:2] + "*" * (len(number) - 6) + number[-4:]
