"""The certificate as a credential: built from plain facts, read back into them.

W3C VC 2.0 in the Open Badges 3.0 shape: one ``OpenBadgeCredential`` per outcome (OB 3.0
holds one achievement per credential). A certificate of one outcome is that credential; a
certificate of several is a CLR 2.0 ``ClrCredential`` holding one ``OpenBadgeCredential``
per outcome, each signed too: a learner can then show one outcome alone and it still
verifies, and the outer signature binds the set (no outcome added, dropped or taken from
another certificate). Every part carries the certificate's two status entries, so revoking
the certificate revokes each part wherever it travels.

What the credential says of the learner is their name and a salted SHA-256 of their ID
number (OB 3.0's ``IdentityObject``, ``sha256$`` + hex of number + salt): whoever holds the
card can check it; the number itself is never in a certificate. Salting stops one lookup
table from serving every certificate; it does not make an ID number (a known birth date and
region leave few candidates) unguessable to someone who tries them one by one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.intake.certificates import jcs, proofs, status_list, vocabulary
from services.intake.certificates.errors import CertificateError
from services.intake.certificates.proofs import format_datetime, parse_datetime

CHINA = timezone(timedelta(hours=8))
TITLE = "学习成果证明"
ISSUER_NAME = "浙江省终身教育学分银行"


@dataclass(frozen=True)
class Issuer:
    """Who signs: the bank. ``id`` is its URL (the key list's ``controller``)."""

    id: str
    name: str = ISSUER_NAME


@dataclass(frozen=True)
class ReviewStep:
    """A level of the review chain: its unit and the day it acted."""

    level: str  # shared.levels.Level value
    unit_code: str
    unit_name: str
    on: date


@dataclass(frozen=True)
class Outcome:
    """A learning outcome as certified: ``kind`` is intake's outcome kind."""

    code: str
    kind: str
    title: str
    credits: Decimal
    achieved_on: date
    hours: Decimal | None = None


@dataclass(frozen=True)
class Conversion:
    """Credits converted from outcomes (their codes) toward a target, under a rule ``code``."""

    code: str
    title: str
    target: str
    credits: Decimal
    decided_on: date
    outcomes: tuple[str, ...]


@dataclass(frozen=True)
class Facts:
    """Everything a certificate states, and nothing it should not (never an ID number)."""

    number: str
    issued_at: datetime
    valid_from: datetime
    valid_until: datetime | None
    learner_name: str
    id_hash: str  # hash_identity(number, id_salt)
    id_salt: str
    unit_code: str  # the issuing unit
    unit_name: str
    accepted: ReviewStep  # the acceptance point that took the application, and when
    approvals: tuple[ReviewStep, ...]  # each approving level, in order
    outcomes: tuple[Outcome, ...]
    status_index: int
    revocation_list: str  # URL of the revocation list credential
    suspension_list: str  # URL of the suspension list credential
    conversions: tuple[Conversion, ...] = field(default=())


def new_salt() -> str:
    """A fresh salt for one certificate's ID hash (16 hex characters)."""
    return secrets.token_hex(8)


def hash_identity(id_number: str, salt: str) -> str:
    """OB 3.0's salted identity hash: ``sha256$`` + hex SHA-256 of number then salt."""
    return "sha256$" + hashlib.sha256((id_number.strip().upper() + salt).encode()).hexdigest()


def identity_matches(facts: Facts, id_number: str) -> bool:
    """Whether a presented ID number is the one the certificate's hash was made of."""
    return hmac.compare_digest(hash_identity(id_number, facts.id_salt), facts.id_hash)


def certificate_id(number: str) -> str:
    return f"urn:zjcb:certificate:{number}"


def sign(
    facts: Facts, issuer: Issuer, key: Ed25519PrivateKey, verification_method: str
) -> dict[str, Any]:
    """The signed credential of ``facts``, its proofs dated ``facts.issued_at``.

    What a verifier would refuse is refused here (``CertificateError``): a text not in NFC,
    a code outside its form, a figure out of range. Nothing is issued that cannot verify.
    """
    document = _signed(facts, issuer, key, verification_method)
    vocabulary.check_credential(jcs.loads(json.dumps(document, ensure_ascii=False)))
    return document


def _signed(
    facts: Facts, issuer: Issuer, key: Ed25519PrivateKey, verification_method: str
) -> dict[str, Any]:
    created = facts.issued_at
    if not facts.outcomes:
        raise ValueError("a certificate certifies at least one outcome")
    if len(facts.outcomes) == 1:
        badge = _badge(facts, issuer, facts.outcomes[0], certificate_id(facts.number))
        return proofs.sign(badge, key, verification_method, created)
    parts = [
        proofs.sign(
            _badge(facts, issuer, outcome, f"{certificate_id(facts.number)}:{i}"),
            key,
            verification_method,
            created,
        )
        for i, outcome in enumerate(facts.outcomes, start=1)
    ]
    return proofs.sign(_clr(facts, issuer, parts), key, verification_method, created)


def _common(facts: Facts, issuer: Issuer, credential_id: str) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": credential_id,
        "name": TITLE,
        "issuer": {"id": issuer.id, "type": ["Profile"], "name": issuer.name},
        "validFrom": format_datetime(facts.valid_from),
        "awardedDate": format_datetime(facts.issued_at),
        "credentialStatus": [
            status_list.entry(facts.revocation_list, "revocation", facts.status_index),
            status_list.entry(facts.suspension_list, "suspension", facts.status_index),
        ],
    }
    if facts.valid_until is not None:
        document["validUntil"] = format_datetime(facts.valid_until)
    return document


def _subject_common(facts: Facts, conversions: Sequence[Conversion]) -> dict[str, Any]:
    subject: dict[str, Any] = {
        "identifier": [
            {
                "type": "IdentityObject",
                "identityType": "name",
                "hashed": False,
                "identityHash": facts.learner_name,
            },
            {
                "type": "IdentityObject",
                "identityType": "nationalIdentityNumber",
                "hashed": True,
                "identityHash": facts.id_hash,
                "salt": facts.id_salt,
            },
        ],
        "source": {
            "id": f"urn:zjcb:unit:{facts.unit_code}",
            "type": ["Profile"],
            "name": facts.unit_name,
        },
        "reviewChain": [_step(facts.accepted, "accepted")]
        + [_step(step, "approved") for step in facts.approvals],
    }
    if conversions:
        subject["conversions"] = [_conversion(c) for c in conversions]
    return subject


def _badge(facts: Facts, issuer: Issuer, outcome: Outcome, credential_id: str) -> dict[str, Any]:
    subject = {
        "type": ["AchievementSubject"],
        "achievement": {
            "id": f"urn:zjcb:outcome:{outcome.code}",
            "type": ["Achievement"],
            "achievementType": f"ext:{outcome.kind}",
            "name": outcome.title,
            "description": f"{TITLE}: {outcome.title}",
            "criteria": {"narrative": f"{facts.unit_name}审核认定"},
            "humanCode": outcome.code,
            "creditsAvailable": _number(outcome.credits),
        },
        "creditsEarned": _number(outcome.credits),
        "activityEndDate": _day(outcome.achieved_on),
        **_subject_common(facts, [c for c in facts.conversions if outcome.code in c.outcomes]),
    }
    if outcome.hours is not None:
        subject["learningHours"] = _number(outcome.hours)
    return {
        "@context": list(vocabulary.OB_CONTEXTS),
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        **_common(facts, issuer, credential_id),
        "credentialSubject": subject,
    }


def _clr(facts: Facts, issuer: Issuer, parts: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "@context": list(vocabulary.CLR_CONTEXTS),
        "type": ["VerifiableCredential", "ClrCredential"],
        **_common(facts, issuer, certificate_id(facts.number)),
        "credentialSubject": {
            "type": ["ClrSubject"],
            "verifiableCredential": parts,
            **_subject_common(facts, facts.conversions),
        },
    }


def _step(step: ReviewStep, action: str) -> dict[str, Any]:
    return {
        "type": "ReviewStep",
        "action": action,
        "level": step.level,
        "unitCode": step.unit_code,
        "unitName": step.unit_name,
        "date": step.on.isoformat(),
    }


def _conversion(conversion: Conversion) -> dict[str, Any]:
    return {
        "type": "CreditConversion",
        "code": conversion.code,
        "title": conversion.title,
        "target": conversion.target,
        "credits": _number(conversion.credits),
        "date": conversion.decided_on.isoformat(),
        "outcomes": list(conversion.outcomes),
    }


def _number(value: Decimal) -> int | float:
    """A JSON number: an integer when whole (JCS writes 3.0 as 3 anyway), else a float,
    whose shortest form reads back as the same two-decimal amount."""
    return int(value) if value == value.to_integral_value() else float(value)


def _day(day: date) -> str:
    """A day as OB 3.0's DateTime wants it: midnight, China time."""
    return datetime.combine(day, time(), CHINA).isoformat()


# ---- reading a credential back -----------------------------------------------------------


def facts_of(document: Mapping[str, Any]) -> Facts:
    """The facts a credential states, once ``vocabulary.check_credential`` accepted it.

    A ClrCredential's parts must each be a part of this same certificate (same learner, unit,
    review chain, status entries, dates): ``CertificateError`` (MALFORMED_VALUE_ERROR) if not.
    """
    subject = document["credentialSubject"]
    if "verifiableCredential" not in subject:
        return _facts(document, [subject])
    parts = subject["verifiableCredential"]
    for i, part in enumerate(parts, start=1):
        if part["id"] != f"{document['id']}:{i}":
            raise CertificateError("MALFORMED_VALUE_ERROR", f"part {i} is not of this certificate")
        for term in ("issuer", "validFrom", "validUntil", "awardedDate", "credentialStatus"):
            if part.get(term) != document.get(term):
                raise CertificateError("MALFORMED_VALUE_ERROR", f"part {i}'s {term} differs")
        for term in ("identifier", "source", "reviewChain"):
            if part["credentialSubject"][term] != subject[term]:
                raise CertificateError("MALFORMED_VALUE_ERROR", f"part {i}'s {term} differs")
    return _facts(document, [part["credentialSubject"] for part in parts], subject)


def _facts(
    document: Mapping[str, Any],
    subjects: Sequence[Mapping[str, Any]],
    whole: Mapping[str, Any] | None = None,
) -> Facts:
    first = whole or subjects[0]
    name, identity = first["identifier"]
    steps = [_read_step(step) for step in first["reviewChain"]]
    revocation, suspension = _status(document["credentialStatus"])
    prefix = "urn:zjcb:certificate:"
    if not document["id"].startswith(prefix):
        raise CertificateError("MALFORMED_VALUE_ERROR", "the credential's id is not a number")
    return Facts(
        number=document["id"].removeprefix(prefix),
        issued_at=parse_datetime(document["awardedDate"]),
        valid_from=parse_datetime(document["validFrom"]),
        valid_until=_moment(document.get("validUntil")),
        learner_name=name["identityHash"],
        id_hash=identity["identityHash"],
        id_salt=identity["salt"],
        unit_code=first["source"]["id"].removeprefix("urn:zjcb:unit:"),
        unit_name=first["source"]["name"],
        accepted=steps[0],
        approvals=tuple(steps[1:]),
        outcomes=tuple(_read_outcome(subject) for subject in subjects),
        status_index=revocation[1],
        revocation_list=revocation[0],
        suspension_list=suspension[0],
        conversions=tuple(_read_conversion(c) for c in first.get("conversions", [])),
    )


def _status(entries: Sequence[Any]) -> tuple[tuple[str, int], tuple[str, int]]:
    parsed = {
        purpose: (url, index) for url, purpose, index in map(status_list.parse_entry, entries)
    }
    if set(parsed) != {"revocation", "suspension"} or len({i for _, i in parsed.values()}) != 1:
        raise CertificateError(
            "MALFORMED_VALUE_ERROR", "the status entries are not one revocation and one suspension"
        )
    return parsed["revocation"], parsed["suspension"]


def _read_step(step: Mapping[str, Any]) -> ReviewStep:
    return ReviewStep(
        step["level"], step["unitCode"], step["unitName"], date.fromisoformat(step["date"])
    )


def _read_outcome(subject: Mapping[str, Any]) -> Outcome:
    achievement = subject["achievement"]
    hours = subject.get("learningHours")
    return Outcome(
        code=achievement["humanCode"],
        kind=achievement["achievementType"].removeprefix("ext:"),
        title=achievement["name"],
        credits=_decimal(subject["creditsEarned"]),
        achieved_on=parse_datetime(subject["activityEndDate"]).astimezone(CHINA).date(),
        hours=None if hours is None else _decimal(hours),
    )


def _read_conversion(conversion: Mapping[str, Any]) -> Conversion:
    return Conversion(
        code=conversion["code"],
        title=conversion["title"],
        target=conversion["target"],
        credits=_decimal(conversion["credits"]),
        decided_on=date.fromisoformat(conversion["date"]),
        outcomes=tuple(conversion["outcomes"]),
    )


def _decimal(value: float) -> Decimal:
    return Decimal(str(value))


def _moment(value: str | None) -> datetime | None:
    return None if value is None else parse_datetime(value)
