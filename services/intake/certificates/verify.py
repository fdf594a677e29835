"""The verdict on a certificate: its credential (JSON text) or its QR payload (``ZJCB1:...``).

Given the key list, a way to obtain status lists (a callable from a list's URL to its JSON
text: the online verifier fetches it, the offline one reads its cached file) and the time,
the answer is a ``Verdict``: ``genuine``, or why not. In order of precedence:

- ``not_genuine``: the text is not ours, not whole, or its signature does not hold under a
  key of the list inside that key's window (nothing else about it is believed);
- ``revoked`` / ``suspended``: its status list says so (the reason of a revocation is in the
  bank's records, not in the list: the caller may add it, ``Verdict.revocation_reason``);
- ``expired`` (validUntil passed) / ``not_yet_valid`` (validFrom ahead), with ``SKEW`` of
  clock difference allowed either way;
- ``status_unavailable``: a status list could not be had or believed (unreachable, its
  signature bad, too short, the index outside it): fail closed, never ``genuine``;
- ``genuine``.

Every reason found is listed, in plain English, each with its code (``CertificateError``'s)
for the window to word. The signed facts come with every verdict whose signature held.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from services.intake.certificates import cose, credential, jcs, proofs, status_list, vocabulary
from services.intake.certificates.cose import Claims
from services.intake.certificates.credential import Facts
from services.intake.certificates.errors import CertificateError
from services.intake.certificates.keys import KeyList, PublicKey

SKEW = timedelta(minutes=5)
StatusSource = Callable[[str], str | bytes]


class Outcome(enum.StrEnum):
    GENUINE = "genuine"
    REVOKED = "revoked"
    SUSPENDED = "suspended"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    STATUS_UNAVAILABLE = "status_unavailable"
    NOT_GENUINE = "not_genuine"


@dataclass(frozen=True)
class Reason:
    code: str
    message: str


@dataclass(frozen=True)
class Verdict:
    """The answer, its reasons, and (when the signature held) what was signed.

    ``facts`` for a credential, ``claims`` for a QR payload; ``status_as_of`` is the oldest
    ``validFrom`` of the status lists consulted (what "as of" a verdict is).
    """

    outcome: Outcome
    reasons: tuple[Reason, ...] = ()
    facts: Facts | None = None
    claims: Claims | None = None
    key: PublicKey | None = None
    status_as_of: datetime | None = None
    revocation_reason: str | None = field(default=None)

    @property
    def genuine(self) -> bool:
        return self.outcome is Outcome.GENUINE


def verify(text: str | bytes, keys: KeyList, status_lists: StatusSource, now: datetime) -> Verdict:
    """The verdict on ``text``: a credential if it is a JSON object, else a QR payload."""
    head = text.lstrip()[:1] if isinstance(text, str) else text.lstrip()[:1].decode("latin-1")
    if head == "{" or isinstance(text, bytes):
        return verify_credential(text, keys, status_lists, now)
    return verify_payload(text, keys, status_lists, now)


def verify_credential(
    text: str | bytes, keys: KeyList, status_lists: StatusSource, now: datetime
) -> Verdict:
    """The verdict on a credential's JSON text (an OpenBadgeCredential or a ClrCredential)."""
    try:
        document = jcs.loads(text)
        vocabulary.check_credential(document)
        key = _check_signatures(document, keys, now)
        facts = credential.facts_of(document)
    except CertificateError as exc:
        return _not_genuine(exc)
    return _judge(
        facts.valid_from,
        facts.valid_until,
        document["credentialStatus"],
        keys,
        status_lists,
        now,
        Verdict(Outcome.GENUINE, facts=facts, key=key),
    )


def verify_payload(text: str, keys: KeyList, status_lists: StatusSource, now: datetime) -> Verdict:
    """The verdict on an offline QR payload (``ZJCB1:`` + Base45), bare or as a printed
    QR code holds it (the verification address, ``#``, the payload percent-encoded)."""
    try:
        claims, key = cose.decode(cose.payload_of_scan(text), keys)
        _check_issuer(claims.issuer, keys)
        _check_signed_at(key, claims.issued_at, now)
    except CertificateError as exc:
        return _not_genuine(exc)
    entries = [
        status_list.entry(claims.revocation_list, "revocation", claims.status_index),
        status_list.entry(claims.suspension_list, "suspension", claims.status_index),
    ]
    return _judge(
        claims.valid_from,
        claims.valid_until,
        entries,
        keys,
        status_lists,
        now,
        Verdict(Outcome.GENUINE, claims=claims, key=key),
    )


def _not_genuine(exc: CertificateError) -> Verdict:
    return Verdict(Outcome.NOT_GENUINE, (Reason(exc.code, exc.message),))


def _check_signatures(document: Mapping[str, Any], keys: KeyList, now: datetime) -> PublicKey:
    """The key of the credential's proof, and of each part's for a ClrCredential."""
    _check_issuer(document["issuer"]["id"], keys)
    verified = proofs.verify(document, keys.resolve)
    _check_signed_at(verified.key, verified.created, now)
    for part in document["credentialSubject"].get("verifiableCredential", []):
        inner = proofs.verify(part, keys.resolve)
        _check_signed_at(inner.key, inner.created, now)
    return verified.key


def _check_issuer(issuer: str, keys: KeyList) -> None:
    if issuer != keys.controller:
        raise CertificateError("UNKNOWN_ISSUER", f"issued by {issuer!r}, not by the key list's")


def _check_signed_at(key: PublicKey, signed_at: datetime, now: datetime) -> None:
    refusal = key.window_refusal(signed_at)
    if refusal:
        raise CertificateError("KEY_WINDOW_ERROR", refusal)
    if signed_at > now + SKEW:
        raise CertificateError("KEY_WINDOW_ERROR", "signed at a time still to come")


def _judge(
    valid_from: datetime,
    valid_until: datetime | None,
    entries: list[Any],
    keys: KeyList,
    status_lists: StatusSource,
    now: datetime,
    signed: Verdict,
) -> Verdict:
    found: list[tuple[Outcome, Reason]] = []
    as_of: list[datetime] = []
    for status_entry in entries:
        outcome, reason, moment = _status(status_entry, keys, status_lists, now)
        if outcome is not None and reason is not None:
            found.append((outcome, reason))
        if moment is not None:
            as_of.append(moment)
    if valid_until is not None and now > valid_until + SKEW:
        found.append(
            (Outcome.EXPIRED, Reason("EXPIRED", f"valid until {valid_until:%Y-%m-%d %H:%M} UTC"))
        )
    if now + SKEW < valid_from:
        found.append(
            (
                Outcome.NOT_YET_VALID,
                Reason("NOT_YET_VALID", f"valid from {valid_from:%Y-%m-%d %H:%M} UTC"),
            )
        )
    order = list(Outcome)
    outcome = min((o for o, _ in found), key=order.index, default=Outcome.GENUINE)
    return Verdict(
        outcome,
        tuple(r for _, r in found),
        signed.facts,
        signed.claims,
        signed.key,
        min(as_of) if as_of else None,
    )


def _status(
    status_entry: Any, keys: KeyList, status_lists: StatusSource, now: datetime
) -> tuple[Outcome | None, Reason | None, datetime | None]:
    url = status_entry.get("statusListCredential", "")
    try:
        text = status_lists(url)
    except Exception as exc:  # any failure to obtain the list: fail closed
        reason = Reason("STATUS_RETRIEVAL_ERROR", f"the status list {url} could not be had: {exc}")
        return Outcome.STATUS_UNAVAILABLE, reason, None
    try:
        document = jcs.loads(text, status_list.MAX_ENCODED_CHARS + jcs.MAX_BYTES)
        status = status_list.check(status_entry, document, keys, keys.controller, now)
    except CertificateError as exc:
        return Outcome.STATUS_UNAVAILABLE, Reason(exc.code, exc.message), None
    if not status.is_set:
        return None, None, status.as_of
    outcome = Outcome.REVOKED if status.purpose == "revocation" else Outcome.SUSPENDED
    as_of = f"{status.as_of:%Y-%m-%d %H:%M} UTC"
    return (
        outcome,
        Reason(outcome.value.upper(), f"{status.purpose} list says so, as of {as_of}"),
        status.as_of,
    )
