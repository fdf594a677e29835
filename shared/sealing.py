"""Sealed boxes: a sender encrypts a secret for one receiver with the receiver's public key.

Used for secrets that must cross a queue (an activation code on its way to notify) without
ever being readable in Redis: X25519 key agreement with an ephemeral key, HKDF-SHA256, then
AES-256-GCM. Only the holder of the receiver's private key can open it.
"""

from __future__ import annotations

import base64
import os
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shared.keys import write_keypair

_INFO = b"creditbank sealed box v1"
_RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw


def generate_keypair(private_path: Path, public_path: Path) -> None:
    """Write a new X25519 key pair (sealing) as PEM files."""
    write_keypair(X25519PrivateKey.generate(), private_path, public_path)


def _derive(shared_secret: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral + recipient, info=_INFO)
    return hkdf.derive(shared_secret)


def seal(public_pem: bytes, plaintext: str) -> str:
    recipient = serialization.load_pem_public_key(public_pem)
    assert isinstance(recipient, X25519PublicKey), "sealing needs an X25519 public key"
    ephemeral = X25519PrivateKey.generate()
    eph_raw = ephemeral.public_key().public_bytes(*_RAW)
    key = _derive(ephemeral.exchange(recipient), eph_raw, recipient.public_bytes(*_RAW))
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, plaintext.encode(), eph_raw)
    return base64.urlsafe_b64encode(eph_raw + nonce + sealed).decode()


@lru_cache(maxsize=8)
def _private_key(private_pem: bytes) -> tuple[X25519PrivateKey, bytes]:
    """The private key and its own public key's raw bytes, read once per PEM."""
    private = serialization.load_pem_private_key(private_pem, password=None)
    assert isinstance(private, X25519PrivateKey), "unsealing needs an X25519 private key"
    return private, private.public_key().public_bytes(*_RAW)


def unseal(private_pem: bytes, token: str) -> str:
    private, own = _private_key(private_pem)
    raw = base64.urlsafe_b64decode(token.encode())
    eph_raw, nonce, sealed = raw[:32], raw[32:44], raw[44:]
    ephemeral = X25519PublicKey.from_public_bytes(eph_raw)
    key = _derive(private.exchange(ephemeral), eph_raw, own)
    return AESGCM(key).decrypt(nonce, sealed, eph_raw).decode()
