"""The offline QR payload: CWT claims → CBOR → COSE_Sign1 (EdDSA) → zlib → Base45 → ``ZJCB1:``.

The EU Digital COVID Certificate's layering, so any verifier that reads those reads this
with our keys. COSE_Sign1 (RFC 9052 §4.2) is written here by hand, forty lines on cbor2:
protected header ``{1: -8}`` (alg EdDSA) as a byte string, unprotected ``{4: kid}``, the
signature over ``["Signature1", protected, b"", payload]``, the whole under CBOR tag 18.
pycose 1.1.0 cannot decode with cbor2 6 (it decodes a tag's content to tuples and
frozendicts), and we need nothing else of it.

Claims: CWT ``iss`` (1), ``iat`` (6, the signing time, checked against the key's window),
``nbf`` (5) and ``exp`` (4) from the credential's validFrom/validUntil, and a private claim
(-65537) with the certificate's number, the learner's name, the ID hash's salt and the first
16 bytes of the hash, each outcome as [code, hours×100 or null, credits×100, yyyymmdd], the
status index and the two status list URLs. kid = the first 8 bytes of the SHA-256 of the
public key; two keys may share one, so each is tried.

Decoding is bounded at every layer (the text, the inflated size, the CBOR) and each refusal
has its code: PAYLOAD_PREFIX, PAYLOAD_TOO_LARGE, PAYLOAD_ENCODING (not Base45),
PAYLOAD_TRUNCATED (zlib stream cut short), PAYLOAD_NOT_COSE, UNKNOWN_KEY,
PROOF_VERIFICATION_ERROR (no key's signature), MALFORMED_VALUE_ERROR (claims).
"""

from __future__ import annotations

import io
import urllib.parse
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import base45
import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.intake.certificates.credential import Facts
from services.intake.certificates.errors import CertificateError
from services.intake.certificates.keys import KeyList, PublicKey

PREFIX = "ZJCB1:"
COSE_SIGN1_TAG = 18
PROTECTED = cbor2.dumps({1: -8})  # alg: EdDSA
CLAIM = -65537
# The most a QR code holds (version 40, alphanumeric, error correction L): nothing longer
# can have come from one. The inflated COSE message is a few hundred bytes; 16 KiB is ample.
MAX_TEXT = 4296
MAX_COSE_BYTES = 16 * 1024
BASE45 = frozenset(base45.BASE45_CHARSET)


@dataclass(frozen=True)
class QrOutcome:
    code: str
    credits: Decimal
    achieved_on: date
    hours: Decimal | None = None


@dataclass(frozen=True)
class Claims:
    """What the QR payload states: the credential's key facts, in brief."""

    issuer: str
    issued_at: datetime
    valid_from: datetime
    valid_until: datetime | None
    number: str
    learner_name: str
    id_salt: str  # hex, as in the credential
    id_hash_prefix: str  # hex of the first 16 bytes of the credential's ID hash
    outcomes: tuple[QrOutcome, ...]
    status_index: int
    revocation_list: str
    suspension_list: str


def claims_of(facts: Facts, issuer: str) -> Claims:
    """The QR claims of a certificate's facts."""
    return Claims(
        issuer=issuer,
        issued_at=facts.issued_at,
        valid_from=facts.valid_from,
        valid_until=facts.valid_until,
        number=facts.number,
        learner_name=facts.learner_name,
        id_salt=facts.id_salt,
        id_hash_prefix=facts.id_hash.removeprefix("sha256$")[:32],
        outcomes=tuple(
            QrOutcome(o.code, o.credits, o.achieved_on, o.hours) for o in facts.outcomes
        ),
        status_index=facts.status_index,
        revocation_list=facts.revocation_list,
        suspension_list=facts.suspension_list,
    )


def encode(claims: Claims, key: Ed25519PrivateKey, kid: bytes) -> str:
    """The QR text (``ZJCB1:`` + Base45), signed by ``key`` whose key id is ``kid``."""
    payload = cbor2.dumps(_cwt(claims))
    signature = key.sign(_to_be_signed(PROTECTED, payload))
    message = cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [PROTECTED, {4: kid}, payload, signature]))
    return PREFIX + base45.b45encode(zlib.compress(message, 9)).decode("ascii")


def decode(text: str, keys: KeyList) -> tuple[Claims, PublicKey]:
    """The claims of a QR text and the key (of ``keys``) whose signature holds."""
    protected, kid, payload, signature = _cose(_inflate(_unwrap(text)))
    candidates = keys.by_kid(kid)
    if not candidates:
        raise CertificateError("UNKNOWN_KEY", f"the key id {kid.hex()} is not in the key list")
    data = _to_be_signed(protected, payload)
    for candidate in candidates:
        try:
            candidate.public_key.verify(signature, data)
        except InvalidSignature:
            continue
        return _claims(_cbor(payload, "the payload")), candidate
    raise CertificateError("PROOF_VERIFICATION_ERROR", "the QR payload's signature does not hold")


# What a URL's fragment may hold as it is (RFC 3986 pchar): Base45 but for space and %.
URL_SAFE = "$*+-./:"


def scan_text(page: str, payload: str) -> str:
    """What a certificate's QR code holds: its verification page's address, ``#``, and the
    offline payload percent-encoded (space → %20, % → %25) so that the whole is a URL. A
    phone's camera opens the page; an offline verifier reads ``payload_of_scan``."""
    return f"{page}#{urllib.parse.quote(payload, safe=URL_SAFE)}"


def payload_of_scan(text: str) -> str:
    """The ``ZJCB1:`` payload of what a scanner read: a bare payload, or a verification
    address with the payload after ``#``. Anything else is returned as it was (and refused
    by ``decode`` for its prefix)."""
    text = text.strip()
    if text.startswith(PREFIX):
        return text
    head, sep, fragment = text.partition("#")
    if sep and head.lower().startswith(("http://", "https://")):
        unquoted = urllib.parse.unquote(fragment)
        if unquoted.startswith(PREFIX):
            return unquoted
    return text


def _to_be_signed(protected: bytes, payload: bytes) -> bytes:
    return cbor2.dumps(["Signature1", protected, b"", payload])


def _unwrap(text: str) -> bytes:
    if not isinstance(text, str) or not text.startswith(PREFIX):
        raise CertificateError("PAYLOAD_PREFIX", f"the payload does not start with {PREFIX}")
    if len(text) > MAX_TEXT:
        raise CertificateError("PAYLOAD_TOO_LARGE", "longer than any QR code holds")
    body = text[len(PREFIX) :]
    if not set(body) <= BASE45:
        raise CertificateError("PAYLOAD_ENCODING", "the payload is not Base45")
    try:
        return bytes(base45.b45decode(body))
    except ValueError as exc:
        raise CertificateError("PAYLOAD_ENCODING", "the payload is not Base45") from exc


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj()
    try:
        message = inflater.decompress(data, MAX_COSE_BYTES)
    except zlib.error as exc:
        raise CertificateError("PAYLOAD_ENCODING", "the payload is not zlib-compressed") from exc
    if inflater.unconsumed_tail:
        raise CertificateError("PAYLOAD_TOO_LARGE", f"inflates past {MAX_COSE_BYTES} bytes")
    if not inflater.eof:
        raise CertificateError("PAYLOAD_TRUNCATED", "the payload is cut short")
    if inflater.unused_data:
        raise CertificateError("PAYLOAD_ENCODING", "bytes after the compressed payload")
    return message


def _cbor(data: bytes, what: str) -> Any:
    stream = io.BytesIO(data)
    try:
        value = cbor2.CBORDecoder(stream).decode()
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise CertificateError("PAYLOAD_NOT_COSE", f"{what} is not CBOR") from exc
    if stream.tell() != len(data):
        raise CertificateError("PAYLOAD_NOT_COSE", f"bytes after {what}")
    return value


def _cose(message: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    value = _cbor(message, "the message")
    if not isinstance(value, cbor2.CBORTag) or value.tag != COSE_SIGN1_TAG:
        raise CertificateError("PAYLOAD_NOT_COSE", "not a COSE_Sign1 message (tag 18)")
    parts = value.value
    if not isinstance(parts, list | tuple) or len(parts) != 4:
        raise CertificateError("PAYLOAD_NOT_COSE", "a COSE_Sign1 message has four parts")
    protected, unprotected, payload, signature = parts
    if not all(isinstance(p, bytes) for p in (protected, payload, signature)):
        raise CertificateError("PAYLOAD_NOT_COSE", "COSE_Sign1 parts are not byte strings")
    if protected != PROTECTED:
        raise CertificateError("PAYLOAD_NOT_COSE", "the protected header is not alg EdDSA alone")
    if not isinstance(unprotected, Mapping) or set(unprotected) != {4}:
        raise CertificateError("PAYLOAD_NOT_COSE", "the unprotected header is not a kid alone")
    kid = unprotected[4]
    if not isinstance(kid, bytes) or len(kid) != 8 or len(signature) != 64:
        raise CertificateError("PAYLOAD_NOT_COSE", "a kid of 8 bytes and a 64-byte signature")
    return protected, kid, payload, signature


def _cwt(claims: Claims) -> dict[int, Any]:
    cwt: dict[int, Any] = {
        1: claims.issuer,
        6: _epoch(claims.issued_at),
        5: _epoch(claims.valid_from),
        CLAIM: {
            "n": claims.number,
            "nm": claims.learner_name,
            "idh": bytes.fromhex(claims.id_salt) + bytes.fromhex(claims.id_hash_prefix),
            "o": [
                [
                    o.code,
                    None if o.hours is None else _hundredths(o.hours),
                    _hundredths(o.credits),
                    int(o.achieved_on.strftime("%Y%m%d")),
                ]
                for o in claims.outcomes
            ],
            "st": [claims.status_index, claims.revocation_list, claims.suspension_list],
        },
    }
    if claims.valid_until is not None:
        cwt[4] = _epoch(claims.valid_until)
    return cwt


def _claims(cwt: Any) -> Claims:
    try:
        private = cwt[CLAIM]
        idh, status = private["idh"], private["st"]
        if not isinstance(idh, bytes) or len(idh) < 17:
            raise ValueError("idh")
        return Claims(
            issuer=_str(cwt[1]),
            issued_at=_moment(cwt[6]),
            valid_from=_moment(cwt[5]),
            valid_until=_moment(cwt[4]) if 4 in cwt else None,
            number=_str(private["n"]),
            learner_name=_str(private["nm"]),
            id_salt=idh[:-16].hex(),
            id_hash_prefix=idh[-16:].hex(),
            outcomes=tuple(_outcome(o) for o in private["o"]),
            status_index=_int(status[0]),
            revocation_list=_str(status[1]),
            suspension_list=_str(status[2]),
        )
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise CertificateError(
            "MALFORMED_VALUE_ERROR", f"the QR claims are not ours: {exc}"
        ) from exc


def _outcome(value: Sequence[Any]) -> QrOutcome:
    code, hours, credits, day = value
    return QrOutcome(
        code=_str(code),
        hours=None if hours is None else Decimal(_int(hours)) / 100,
        credits=Decimal(_int(credits)) / 100,
        achieved_on=datetime.strptime(str(_int(day)), "%Y%m%d").date(),
    )


def _hundredths(value: Decimal) -> int:
    """An amount as the ledger holds it (two decimals), in hundredths."""
    hundredths = value * 100
    if hundredths != hundredths.to_integral_value():
        raise ValueError(f"{value} is finer than a hundredth")
    return int(hundredths)


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _moment(value: Any) -> datetime:
    return datetime.fromtimestamp(_int(value), UTC)


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**40:
        raise ValueError("not a small non-negative integer")
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 300:
        raise ValueError("not a short text")
    return value
