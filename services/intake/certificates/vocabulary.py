"""The credential's vocabulary: for each kind of object, the terms it may hold and their form.

A credential is checked against this allow-list before anything in it is believed. A term not
listed is refused, never dropped: with JCS every term is signed, but a term we do not know
would be a claim we never check, shown to nobody, trusted by whoever reads it next. Values
are checked for their form (a date is a date, a credit figure a number in range, a text not
empty and of a bounded length), constants for their exact value (the pinned ``@context``
list, the ``type`` lists).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from services.intake.certificates.errors import CertificateError
from services.intake.certificates.proofs import parse_datetime

Check = Callable[[Any, str], None]
Shape = Mapping[str, tuple[bool, Check]]

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
OB_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
CLR_CONTEXT = "https://purl.imsglobal.org/spec/clr/v2p0/context-2.0.1.json"
OB_CONTEXTS = [VC_CONTEXT, OB_CONTEXT]
CLR_CONTEXTS = [VC_CONTEXT, CLR_CONTEXT, OB_CONTEXT]
MAX_OUTCOMES = 50
MAX_TEXT = 500


def refuse(path: str, message: str, code: str = "MALFORMED_VALUE_ERROR") -> CertificateError:
    return CertificateError(code, f"{path}: {message}")


def check(value: Any, shape: Shape, path: str) -> None:
    """Refuses ``value`` unless it is an object of ``shape``: known terms, required present."""
    if not isinstance(value, Mapping):
        raise refuse(path, "not an object")
    for term in value:
        if term not in shape:
            raise refuse(path, f"term {term!r} is not in the vocabulary", "UNKNOWN_TERM")
    for term, (required, check_value) in shape.items():
        if term in value:
            check_value(value[term], f"{path}.{term}")
        elif required:
            raise refuse(path, f"{term!r} is missing")


def req(check_value: Check) -> tuple[bool, Check]:
    return True, check_value


def opt(check_value: Check) -> tuple[bool, Check]:
    return False, check_value


def const(expected: Any) -> Check:
    def check_const(value: Any, path: str) -> None:
        if value != expected or type(value) is not type(expected):
            raise refuse(path, f"must be {expected!r}")

    return check_const


def text(max_length: int = MAX_TEXT, pattern: str | None = None) -> Check:
    compiled = re.compile(pattern) if pattern else None

    def check_text(value: Any, path: str) -> None:
        if not isinstance(value, str) or not value.strip() or len(value) > max_length:
            raise refuse(path, f"must be a text of 1 to {max_length} characters")
        if compiled and not compiled.fullmatch(value):
            raise refuse(path, "is not of the expected form")

    return check_text


def number(maximum: float) -> Check:
    def check_number(value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise refuse(path, "must be a number")
        if not 0 <= value <= maximum:
            raise refuse(path, f"must be between 0 and {maximum}")

    return check_number


def boolean(value: Any, path: str) -> None:
    if not isinstance(value, bool):
        raise refuse(path, "must be true or false")


def datetime_text(value: Any, path: str) -> None:
    try:
        parse_datetime(value)
    except (TypeError, ValueError) as exc:
        raise refuse(path, "must be a date and time with its zone") from exc


def date_text(value: Any, path: str) -> None:
    try:
        if not isinstance(value, str) or len(value) != 10:
            raise ValueError
        date.fromisoformat(value)
    except ValueError as exc:
        raise refuse(path, "must be a date (YYYY-MM-DD)") from exc


def obj(shape: Shape) -> Check:
    return lambda value, path: check(value, shape, path)


def listed(item: Check, min_items: int = 1, max_items: int = MAX_OUTCOMES) -> Check:
    def check_list(value: Any, path: str) -> None:
        if not isinstance(value, list) or not min_items <= len(value) <= max_items:
            raise refuse(path, f"must be a list of {min_items} to {max_items}")
        for i, element in enumerate(value):
            item(element, f"{path}[{i}]")

    return check_list


def sequence(*items: Check) -> Check:
    """A list of exactly these items, in this order."""

    def check_sequence(value: Any, path: str) -> None:
        if not isinstance(value, list) or len(value) != len(items):
            raise refuse(path, f"must be a list of {len(items)}")
        for i, (element, item) in enumerate(zip(value, items, strict=True)):
            item(element, f"{path}[{i}]")

    return check_sequence


def anything(value: Any, path: str) -> None:
    """Checked elsewhere (a proof: ``proofs.verify`` has its own allow-list)."""


URN = r"urn:zjcb:[A-Za-z0-9:._-]{1,200}"
CODE = text(64, r"[A-Za-z0-9._-]{1,64}")
LEVEL = text(32, r"acceptance_point|subcentre|branch|province")

PROFILE: Shape = {
    "id": req(text(200)),
    "type": req(const(["Profile"])),
    "name": req(text(200)),
}
IDENTITY_NAME: Shape = {
    "type": req(const("IdentityObject")),
    "identityType": req(const("name")),
    "hashed": req(const(False)),
    "identityHash": req(text(100)),
}
IDENTITY_NUMBER: Shape = {
    "type": req(const("IdentityObject")),
    "identityType": req(const("nationalIdentityNumber")),
    "hashed": req(const(True)),
    "identityHash": req(text(71, r"sha256\$[0-9a-f]{64}")),
    "salt": req(text(64, r"[0-9a-f]{16,64}")),
}
IDENTIFIERS = sequence(obj(IDENTITY_NAME), obj(IDENTITY_NUMBER))
REVIEW_STEP: Shape = {
    "type": req(const("ReviewStep")),
    "action": req(text(10, r"accepted|approved")),
    "level": req(LEVEL),
    "unitCode": req(CODE),
    "unitName": req(text(200)),
    "date": req(date_text),
}
CONVERSION: Shape = {
    "type": req(const("CreditConversion")),
    "code": req(CODE),
    "title": req(text(200)),
    "target": req(text(200)),
    "credits": req(number(1000)),
    "date": req(date_text),
    "outcomes": req(listed(CODE)),
}
ACHIEVEMENT: Shape = {
    "id": req(text(300, URN)),
    "type": req(const(["Achievement"])),
    "achievementType": req(text(64, r"ext:[a-z_]{1,60}")),
    "name": req(text(200)),
    "description": req(text(MAX_TEXT)),
    "criteria": req(obj({"narrative": req(text(MAX_TEXT))})),
    "humanCode": req(CODE),
    "creditsAvailable": req(number(1000)),
}
ACHIEVEMENT_SUBJECT: Shape = {
    "type": req(const(["AchievementSubject"])),
    "identifier": req(IDENTIFIERS),
    "achievement": req(obj(ACHIEVEMENT)),
    "creditsEarned": req(number(1000)),
    "activityEndDate": req(datetime_text),
    "source": req(obj(PROFILE)),
    # Our extension terms: not in OB 3.0, they fall under the VC 2.0 context's @vocab
    # (https://www.w3.org/ns/credentials/issuer-dependent#...).
    "learningHours": opt(number(100_000)),
    "reviewChain": req(listed(obj(REVIEW_STEP), 1, 10)),
    "conversions": opt(listed(obj(CONVERSION), 1, MAX_OUTCOMES)),
}
STATUS_ENTRY: Shape = {
    "id": req(text(400)),
    "type": req(const("BitstringStatusListEntry")),
    "statusPurpose": req(text(20, r"revocation|suspension")),
    "statusListIndex": req(text(9, r"[0-9]{1,9}")),
    "statusListCredential": req(text(300)),
}
CREDENTIAL_COMMON: Shape = {
    "id": req(text(300, URN)),
    "name": req(text(200)),
    "issuer": req(obj(PROFILE)),
    "validFrom": req(datetime_text),
    "validUntil": opt(datetime_text),
    "awardedDate": req(datetime_text),
    "credentialStatus": req(listed(obj(STATUS_ENTRY), 2, 2)),
    "proof": req(anything),
}
OPEN_BADGE: Shape = {
    **CREDENTIAL_COMMON,
    "@context": req(const(OB_CONTEXTS)),
    "type": req(const(["VerifiableCredential", "OpenBadgeCredential"])),
    "credentialSubject": req(obj(ACHIEVEMENT_SUBJECT)),
}
CLR_SUBJECT: Shape = {
    "type": req(const(["ClrSubject"])),
    "identifier": req(IDENTIFIERS),
    "verifiableCredential": req(listed(obj(OPEN_BADGE), 2, MAX_OUTCOMES)),
    "source": req(obj(PROFILE)),
    "reviewChain": req(listed(obj(REVIEW_STEP), 1, 10)),
    "conversions": opt(listed(obj(CONVERSION), 1, MAX_OUTCOMES)),
}
CLR: Shape = {
    **CREDENTIAL_COMMON,
    "@context": req(const(CLR_CONTEXTS)),
    "type": req(const(["VerifiableCredential", "ClrCredential"])),
    "credentialSubject": req(obj(CLR_SUBJECT)),
}


def check_credential(document: Any) -> str:
    """``"OpenBadgeCredential"`` or ``"ClrCredential"`` once ``document`` is found to be one
    in every term; ``CertificateError`` (UNKNOWN_TERM or MALFORMED_VALUE_ERROR) otherwise."""
    kind = document.get("type") if isinstance(document, Mapping) else None
    if kind == ["VerifiableCredential", "OpenBadgeCredential"]:
        check(document, OPEN_BADGE, "credential")
        return "OpenBadgeCredential"
    if kind == ["VerifiableCredential", "ClrCredential"]:
        check(document, CLR, "credential")
        return "ClrCredential"
    raise refuse("credential", "neither an OpenBadgeCredential nor a ClrCredential")
