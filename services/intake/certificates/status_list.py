"""W3C Bitstring Status List v1.0: whether a certificate is revoked or suspended.

One list per purpose: ``revocation`` (permanent: a revoked certificate is never genuine
again) and ``suspension`` (reversible: a dispute, a re-review). Each list has at least
131,072 entries, so that a list says little about how many certificates exist or which were
issued together; a certificate's index is drawn at random among the free ones and is the same
in both lists. Bit 0 is the most significant bit of byte 0. The list is GZIP-compressed and
written as multibase base64url (``u``), inside a ``BitstringStatusListCredential`` signed
with eddsa-jcs-2022 like the certificates.

Reading a list is bounded: its text, and what it decompresses to (a gzip bomb is refused
after at most ``MAX_LIST_BYTES`` of output). Refusals use the specification's error names:
STATUS_RETRIEVAL_ERROR, STATUS_VERIFICATION_ERROR (bad signature, wrong issuer or purpose,
expired list), STATUS_LIST_LENGTH_ERROR (fewer than 131,072 entries), RANGE_ERROR.
"""

from __future__ import annotations

import gzip
import secrets
import zlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.intake.certificates import multibase, proofs
from services.intake.certificates.errors import CertificateError
from services.intake.certificates.keys import KeyList
from services.intake.certificates.proofs import format_datetime, parse_datetime

MIN_ENTRIES = 131_072
PURPOSES = ("revocation", "suspension")
VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
ENTRY_TYPE = "BitstringStatusListEntry"
LIST_TYPE = "BitstringStatusListCredential"
# 8 Mi entries at most (1 MiB of bits), 64 times the minimum: room to grow, a bound to hold.
MAX_LIST_BYTES = 1024 * 1024
MAX_ENCODED_CHARS = 2 * 1024 * 1024
ENTRY_TERMS = frozenset({"id", "type", "statusPurpose", "statusListIndex", "statusListCredential"})
CREDENTIAL_TERMS = frozenset(
    {"@context", "id", "type", "issuer", "validFrom", "validUntil", "credentialSubject", "proof"}
)
SUBJECT_TERMS = frozenset({"id", "type", "statusPurpose", "encodedList"})


class StatusList:
    """A bitstring of ``length`` entries (a multiple of 8, at least 131,072)."""

    def __init__(self, length: int = MIN_ENTRIES, bits: bytes | None = None) -> None:
        if length % 8 or length < MIN_ENTRIES:
            raise ValueError(f"a status list has a multiple of 8 entries, {MIN_ENTRIES} or more")
        self.bits = bytearray(bits if bits is not None else length // 8)
        self.length = length

    def __getitem__(self, index: int) -> bool:
        self._in_range(index)
        return bool(self.bits[index // 8] & (0x80 >> (index % 8)))

    def __setitem__(self, index: int, value: bool) -> None:
        self._in_range(index)
        if value:
            self.bits[index // 8] |= 0x80 >> (index % 8)
        else:
            self.bits[index // 8] &= ~(0x80 >> (index % 8)) & 0xFF

    def _in_range(self, index: int) -> None:
        if not 0 <= index < self.length:
            raise CertificateError("RANGE_ERROR", f"index {index} outside a list of {self.length}")

    def encode(self) -> str:
        """``u`` + base64url(GZIP(bits)), no padding; mtime 0 so equal lists encode equal."""
        return multibase.encode_base64url(gzip.compress(bytes(self.bits), mtime=0))

    @classmethod
    def decode(cls, encoded: str) -> StatusList:
        """The list of an ``encodedList``; STATUS_LIST_LENGTH_ERROR if short, bombs refused."""
        try:
            packed = multibase.decode_base64url(encoded, MAX_ENCODED_CHARS)
        except CertificateError as exc:
            raise CertificateError("STATUS_VERIFICATION_ERROR", exc.message) from exc
        inflater = zlib.decompressobj(wbits=31)  # 31: a gzip header and trailer
        try:
            bits = inflater.decompress(packed, MAX_LIST_BYTES)
        except zlib.error as exc:
            raise CertificateError("STATUS_VERIFICATION_ERROR", "encodedList is not GZIP") from exc
        if inflater.unconsumed_tail:
            raise CertificateError("STATUS_LIST_LENGTH_ERROR", "the list is larger than allowed")
        if not inflater.eof:
            raise CertificateError("STATUS_VERIFICATION_ERROR", "encodedList is truncated")
        if len(bits) * 8 < MIN_ENTRIES:
            raise CertificateError(
                "STATUS_LIST_LENGTH_ERROR", f"{len(bits) * 8} entries, fewer than {MIN_ENTRIES}"
            )
        return cls(len(bits) * 8, bits)


def pick_index(
    used: Collection[int], length: int = MIN_ENTRIES, rng: secrets.SystemRandom | None = None
) -> int:
    """A random index of a list of ``length`` that is not in ``used``.

    Draws until one is free (the expected number of draws stays under 2 while the list is
    less than half full); a full list raises ``ValueError``: start a new list.
    """
    rng = rng or secrets.SystemRandom()
    if len(used) >= length:
        raise ValueError("the status list is full")
    for _ in range(64):
        index = rng.randrange(length)
        if index not in used:
            return index
    free = [i for i in range(length) if i not in used]  # nearly full: no more luck needed
    return rng.choice(free)


def entry(list_url: str, purpose: str, index: int) -> dict[str, Any]:
    """The ``credentialStatus`` entry pointing at ``index`` of the list at ``list_url``."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown status purpose {purpose!r}")
    return {
        "id": f"{list_url}#{index}",
        "type": ENTRY_TYPE,
        "statusPurpose": purpose,
        "statusListIndex": str(index),
        "statusListCredential": list_url,
    }


def list_credential(
    list_url: str,
    purpose: str,
    status: StatusList,
    issuer: str,
    valid_from: datetime,
    signer: Ed25519PrivateKey,
    verification_method: str,
    valid_until: datetime | None = None,
) -> dict[str, Any]:
    """The signed ``BitstringStatusListCredential`` of ``status`` as of ``valid_from``."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown status purpose {purpose!r}")
    document: dict[str, Any] = {
        "@context": [VC_CONTEXT],
        "id": list_url,
        "type": ["VerifiableCredential", LIST_TYPE],
        "issuer": issuer,
        "validFrom": format_datetime(valid_from),
        "credentialSubject": {
            "id": f"{list_url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": purpose,
            "encodedList": status.encode(),
        },
    }
    if valid_until is not None:
        document["validUntil"] = format_datetime(valid_until)
    return proofs.sign(document, signer, verification_method, valid_from)


@dataclass(frozen=True)
class Status:
    """What a list says of one entry: its purpose, whether the bit is set, as of when."""

    purpose: str
    index: int
    is_set: bool
    as_of: datetime
    list_url: str


def parse_entry(value: Any) -> tuple[str, str, int]:
    """(list URL, purpose, index) of a ``credentialStatus`` entry, checked."""
    if not isinstance(value, Mapping) or value.get("type") != ENTRY_TYPE:
        raise CertificateError("MALFORMED_VALUE_ERROR", "a status entry is not a list entry")
    unknown = set(value) - ENTRY_TERMS
    if unknown:
        raise CertificateError("UNKNOWN_TERM", f"unknown status term {sorted(unknown)[0]!r}")
    url, purpose, index = (
        value.get("statusListCredential"),
        value.get("statusPurpose"),
        value.get("statusListIndex"),
    )
    if not isinstance(url, str) or purpose not in PURPOSES:
        raise CertificateError("MALFORMED_VALUE_ERROR", "a status entry has no list or purpose")
    if not isinstance(index, str) or not index.isascii() or not index.isdigit() or len(index) > 9:
        raise CertificateError("MALFORMED_VALUE_ERROR", "a status entry's index is not a number")
    if value.get("id") != f"{url}#{int(index)}":
        raise CertificateError("MALFORMED_VALUE_ERROR", "a status entry's id is not its index")
    return url, str(purpose), int(index)


def check(status_entry: Any, credential: Any, keys: KeyList, issuer: str, now: datetime) -> Status:
    """What the list ``credential`` (already parsed JSON) says of ``status_entry``.

    The list must be signed by a key of ``keys`` inside its window, issued by ``issuer``, for
    the entry's purpose, and not past its ``validUntil``.
    """
    url, purpose, index = parse_entry(status_entry)
    subject = _verified_subject(credential, url, keys, issuer, now)
    if subject.get("statusPurpose") != purpose:
        raise CertificateError(
            "STATUS_VERIFICATION_ERROR",
            f"the list at {url} is for {subject.get('statusPurpose')!r}, not {purpose}",
        )
    bits = StatusList.decode(subject.get("encodedList", ""))
    if index >= bits.length:
        raise CertificateError("RANGE_ERROR", f"index {index} outside a list of {bits.length}")
    return Status(purpose, index, bits[index], parse_datetime(credential["validFrom"]), url)


def _verified_subject(
    credential: Any, url: str, keys: KeyList, issuer: str, now: datetime
) -> Mapping[str, Any]:
    error = "STATUS_VERIFICATION_ERROR"
    if not isinstance(credential, Mapping) or credential.get("id") != url:
        raise CertificateError(error, f"what was served for {url} is not that list")
    subject = credential.get("credentialSubject")
    if (
        credential.get("type") != ["VerifiableCredential", LIST_TYPE]
        or credential.get("@context") != [VC_CONTEXT]
        or not isinstance(subject, Mapping)
        or subject.get("type") != "BitstringStatusList"
    ):
        raise CertificateError(error, f"{url} is not a BitstringStatusListCredential")
    unknown = (set(credential) - CREDENTIAL_TERMS) | (set(subject) - SUBJECT_TERMS)
    if unknown:
        raise CertificateError(error, f"unknown term {sorted(unknown)[0]!r} in the status list")
    if credential.get("issuer") != issuer:
        raise CertificateError(error, "the status list is not the bank's")
    try:
        verified = proofs.verify(credential, keys.resolve)
    except CertificateError as exc:
        raise CertificateError(error, f"the status list's proof: {exc.message}") from exc
    refusal = verified.key.window_refusal(verified.created)
    if refusal:
        raise CertificateError(error, f"the status list was {refusal}")
    try:
        parse_datetime(credential["validFrom"])
        valid_until = credential.get("validUntil")
        ended = valid_until is not None and parse_datetime(valid_until) < now
    except (KeyError, ValueError) as exc:
        raise CertificateError(error, "the status list's dates are not valid") from exc
    if ended:
        raise CertificateError(error, "the status list is past its validUntil")
    return subject
