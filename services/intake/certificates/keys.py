"""The certificate signing keys: a key ring on disk, and the key list verifiers trust.

Signing keys are Ed25519 and their own: never the personal-data key (``var/keys/pii.json``)
nor the JWT key, so rotating or losing one touches nothing else. Each is a file (mode 0600)
under the directory the caller names (e.g. ``var/keys/certificates/``) with its window:
``not_before`` (it signs nothing earlier), ``not_after`` (its planned end) and ``retired``
(the moment a rotation replaced it). A retired key is kept: certificates it signed inside its
window stay genuine, and a signature dated outside the window is refused.

The published key list names every key, retired ones too, each with its window. It is signed
(eddsa-jcs-2022) by the current key. That proves the file whole and unedited since the bank
made it (a window or a key changed by hand, a truncated copy), not who made it: a forger
signs his own list with his own key. Trust comes from where the list was taken: HTTPS from
the bank's address for the online verifier, the copy shipped with the offline one (which
prints the signing key's fingerprint to compare).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.intake.certificates import jcs, multibase, proofs
from services.intake.certificates.errors import CertificateError
from services.intake.certificates.proofs import format_datetime, parse_datetime

KID_BYTES = 8
LIST_TYPE = "CertificateKeyList"
LIST_TERMS = frozenset({"id", "type", "controller", "updated", "verificationMethod", "proof"})
METHOD_TERMS = frozenset(
    {"id", "type", "controller", "publicKeyMultibase", "created", "notBefore", "notAfter"}
) | {"retired"}
MAX_KEYS = 1000


def kid_of(public_raw: bytes) -> bytes:
    """The key id: the first 8 bytes of the SHA-256 of the raw public key (as EU DCC does)."""
    return hashlib.sha256(public_raw).digest()[:KID_BYTES]


@dataclass(frozen=True)
class PublicKey:
    """A public key and its window, as the key list publishes it."""

    public_raw: bytes
    created: datetime
    not_before: datetime
    not_after: datetime | None = None
    retired: datetime | None = None
    # The key id the list gives it: kid_of(public_raw) unless stated. Stated so that a list
    # holding two keys under one kid (8 bytes collide one day) can be represented and tried.
    kid: bytes = b""

    def __post_init__(self) -> None:
        if not self.kid:
            object.__setattr__(self, "kid", kid_of(self.public_raw))

    @property
    def kid_hex(self) -> str:
        return self.kid.hex()

    @property
    def public_key(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(self.public_raw)

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the raw key in hex, for a person to compare with the bank's."""
        return hashlib.sha256(self.public_raw).hexdigest()

    @property
    def ends(self) -> datetime | None:
        """When it stops signing: retirement or planned end, whichever is first."""
        ends = [m for m in (self.not_after, self.retired) if m is not None]
        return min(ends) if ends else None

    def window_refusal(self, signed_at: datetime) -> str | None:
        """Why a signature dated ``signed_at`` is outside this key's window, or None."""
        if signed_at < self.not_before:
            return f"signed {format_datetime(signed_at)}, before its key's window opened"
        ends = self.ends
        if ends is not None and signed_at >= ends:
            return f"signed {format_datetime(signed_at)}, after its key was retired"
        return None

    def method_id(self, list_id: str) -> str:
        return f"{list_id}#{self.kid_hex}"


@dataclass(frozen=True)
class SigningKey:
    """A key of the ring: the private key and its public side with the window."""

    info: PublicKey
    private_key: Ed25519PrivateKey
    path: Path

    def method_id(self, list_id: str) -> str:
        return self.info.method_id(list_id)


class KeyRing:
    """The signing keys kept as files in one directory (the caller's)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def signing_keys(self) -> list[SigningKey]:
        """Every key, oldest first."""
        if not self.directory.is_dir():
            return []
        found = [_read(path) for path in sorted(self.directory.glob("*.json"))]
        return sorted(found, key=lambda k: k.info.created)

    def current(self, now: datetime) -> SigningKey:
        """The newest key whose window holds ``now``; ``CertificateError`` (NO_SIGNING_KEY)."""
        usable = [k for k in self.signing_keys() if k.info.window_refusal(now) is None]
        if not usable:
            raise CertificateError("NO_SIGNING_KEY", "no certificate signing key is valid now")
        return usable[-1]

    def generate(
        self, now: datetime, lifetime: timedelta | None = None, not_before: datetime | None = None
    ) -> SigningKey:
        """A new key in its own file, valid from ``not_before`` (default: now); others stay."""
        private = Ed25519PrivateKey.generate()
        info = PublicKey(
            public_raw=private.public_key().public_bytes_raw(),
            created=now,
            not_before=not_before or now,
            not_after=(now + lifetime) if lifetime else None,
        )
        stamp = format_datetime(now).replace(":", "").replace("-", "")
        key = SigningKey(info, private, self.directory / f"{stamp}-{info.kid_hex}.json")
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        _write(key, exclusive=True)
        return key

    def rotate(self, now: datetime, lifetime: timedelta | None = None) -> SigningKey:
        """A new current key; every key not yet retired is retired at ``now`` and kept.

        The retirement is published to the second, so it is taken up to the next whole one: a
        signature made earlier in the same second (dated to that second, rounded down) must not
        read as made after its key was retired."""
        retired = now if now.microsecond == 0 else now.replace(microsecond=0) + timedelta(seconds=1)
        for key in self.signing_keys():
            if key.info.retired is None:
                _write(replace(key, info=replace(key.info, retired=retired)), exclusive=False)
        return self.generate(now, lifetime)

    def key_list(self, list_id: str, controller: str, now: datetime) -> dict[str, Any]:
        """The key list to publish at ``list_id``, signed by the current key."""
        document: dict[str, Any] = {
            "id": list_id,
            "type": LIST_TYPE,
            "controller": controller,
            "updated": format_datetime(now),
            "verificationMethod": [
                _method(key.info, list_id, controller) for key in self.signing_keys()
            ],
        }
        signer = self.current(now)
        return proofs.sign(document, signer.private_key, signer.method_id(list_id), now)


class KeyList:
    """The published key list as a verifier holds it."""

    def __init__(self, list_id: str, controller: str, keys: Sequence[PublicKey], signer: PublicKey):
        self.id, self.controller, self.keys, self.signer = list_id, controller, tuple(keys), signer

    @classmethod
    def parse(cls, text: str | bytes) -> KeyList:
        """The key list of a JSON text; ``CertificateError`` (KEY_LIST_ERROR) if it is not one
        whole and signed by one of its own keys inside that key's window."""
        try:
            return cls.load(jcs.loads(text))
        except CertificateError as exc:
            if exc.code == "KEY_LIST_ERROR":
                raise
            raise CertificateError("KEY_LIST_ERROR", f"the key list: {exc.message}") from exc

    @classmethod
    def load(cls, document: Any) -> KeyList:
        if not isinstance(document, Mapping) or document.get("type") != LIST_TYPE:
            raise CertificateError("KEY_LIST_ERROR", "not a certificate key list")
        _only(document, LIST_TERMS, "key list")
        list_id, controller = document.get("id"), document.get("controller")
        methods = document.get("verificationMethod")
        if not isinstance(list_id, str) or not isinstance(controller, str):
            raise CertificateError("KEY_LIST_ERROR", "the key list has no id or controller")
        if not isinstance(methods, list) or not 0 < len(methods) <= MAX_KEYS:
            raise CertificateError("KEY_LIST_ERROR", "the key list has no keys")
        by_id: dict[str, list[PublicKey]] = {}
        for method in methods:
            by_id.setdefault(_method_id(method, list_id), []).append(_public(method))
        verified = proofs.verify(document, lambda m: by_id.get(m, []))
        refusal = verified.key.window_refusal(verified.created)
        if refusal:
            raise CertificateError("KEY_LIST_ERROR", f"the key list was {refusal}")
        return cls(list_id, controller, [k for ks in by_id.values() for k in ks], verified.key)

    def resolve(self, verification_method: str) -> list[PublicKey]:
        """Every key the method names (``<list id>#<kid hex>``), or none."""
        head, _, kid = verification_method.partition("#")
        return [k for k in self.keys if head == self.id and k.kid_hex == kid]

    def by_kid(self, kid: bytes) -> list[PublicKey]:
        """Every key with this 8-byte key id (there may be two: try each)."""
        return [k for k in self.keys if k.kid == kid]


def _method(info: PublicKey, list_id: str, controller: str) -> dict[str, Any]:
    method: dict[str, Any] = {
        "id": info.method_id(list_id),
        "type": "Multikey",
        "controller": controller,
        "publicKeyMultibase": multibase.encode_public_key(info.public_raw),
        "created": format_datetime(info.created),
        "notBefore": format_datetime(info.not_before),
    }
    if info.not_after:
        method["notAfter"] = format_datetime(info.not_after)
    if info.retired:
        method["retired"] = format_datetime(info.retired)
    return method


def _method_id(method: Any, list_id: str) -> str:
    if not isinstance(method, Mapping) or method.get("type") != "Multikey":
        raise CertificateError("KEY_LIST_ERROR", "a key of the list is not a Multikey")
    _only(method, METHOD_TERMS, "key")
    method_id = method.get("id")
    if not isinstance(method_id, str) or not method_id.startswith(f"{list_id}#"):
        raise CertificateError("KEY_LIST_ERROR", "a key's id is not under the list's id")
    return method_id


def _public(method: Mapping[str, Any]) -> PublicKey:
    raw = multibase.decode_public_key(method.get("publicKeyMultibase", ""))
    try:
        info = PublicKey(
            public_raw=raw,
            created=parse_datetime(method["created"]),
            not_before=parse_datetime(method["notBefore"]),
            not_after=_moment(method.get("notAfter")),
            retired=_moment(method.get("retired")),
        )
    except (KeyError, ValueError) as exc:
        raise CertificateError("KEY_LIST_ERROR", f"a key's dates are not valid: {exc}") from exc
    if method["id"] != info.method_id(method["id"].partition("#")[0]):
        raise CertificateError("KEY_LIST_ERROR", "a key's id is not its key id")
    return info


def _moment(value: Any) -> datetime | None:
    return None if value is None else parse_datetime(value)


def _only(document: Mapping[str, Any], terms: frozenset[str], what: str) -> None:
    unknown = set(document) - terms
    if unknown:
        raise CertificateError("KEY_LIST_ERROR", f"unknown {what} term {sorted(unknown)[0]!r}")


def _read(path: Path) -> SigningKey:
    data = json.loads(path.read_text())
    private = Ed25519PrivateKey.from_private_bytes(
        multibase.decode_private_key(data["secretKeyMultibase"])
    )
    info = PublicKey(
        public_raw=private.public_key().public_bytes_raw(),
        created=parse_datetime(data["created"]),
        not_before=parse_datetime(data["notBefore"]),
        not_after=_moment(data.get("notAfter")),
        retired=_moment(data.get("retired")),
    )
    return SigningKey(info, private, path)


def _write(key: SigningKey, exclusive: bool) -> None:
    """The key's file, created 0600 (never readable by others, not even for an instant);
    a retirement rewrites it through a new file renamed over the old one."""
    data = {"kid": key.info.kid_hex, "secretKeyMultibase": "", **_method(key.info, "", "")}
    for term in ("id", "type", "controller"):
        del data[term]
    data["secretKeyMultibase"] = multibase.encode_private_key(key.private_key.private_bytes_raw())
    target = key.path if exclusive else key.path.with_suffix(".tmp")
    if not exclusive:
        target.unlink(missing_ok=True)  # left by a rotation that died half way
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
    if not exclusive:
        os.replace(target, key.path)
