"""Identity documents as a service window meets them (pure functions, no I/O).

Eighteen-character numbers (resident ID cards, the Hong Kong/Macao and Taiwan residents'
residence permits, the 2023 foreigner's permanent residence ID card) follow GB 11643-1999:
six digits of region, eight of birth date, three of sequence (odd for men, even for women)
and a check character computed with ISO 7064 MOD 11-2 over the first seventeen.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import date

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARACTERS = "10X98765432"
PROVINCES = frozenset(
    {
        "11",
        "12",
        "13",
        "14",
        "15",
        "21",
        "22",
        "23",
        "31",
        "32",
        "33",
        "34",
        "35",
        "36",
        "37",
        "41",
        "42",
        "43",
        "44",
        "45",
        "46",
        "50",
        "51",
        "52",
        "53",
        "54",
        "61",
        "62",
        "63",
        "64",
        "65",
    }
)
FIELD = "document_number"


class DocumentType(enum.StrEnum):
    RESIDENT_ID = "resident_id"  # 居民身份证
    HKMO_RESIDENCE_PERMIT = "hkmo_residence_permit"  # 港澳居民居住证
    TW_RESIDENCE_PERMIT = "tw_residence_permit"  # 台湾居民居住证
    FOREIGN_PERMANENT_RESIDENCE = "foreign_permanent_residence"  # 外国人永久居留身份证
    PASSPORT = "passport"
    HKMO_TRAVEL_PERMIT = "hkmo_travel_permit"  # 港澳居民来往内地通行证
    TW_TRAVEL_PERMIT = "tw_travel_permit"  # 台湾居民来往大陆通行证


class IdentityError(ValueError):
    """A refusal a window clerk can act on: which field, and why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


@dataclass(frozen=True)
class IdentityInfo:
    document_type: DocumentType
    number: str
    birth_date: date | None = None
    gender: str | None = None


def check_character(first17: str) -> str:
    """The GB 11643 check character (ISO 7064 MOD 11-2) of seventeen digits."""
    total = sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARACTERS[total % 11]


def _eighteen(number: str, today: date) -> tuple[date, str]:
    if len(number) != 18:
        raise IdentityError(FIELD, f"must be 18 characters, got {len(number)}")
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise IdentityError(FIELD, "must be 17 digits followed by a digit or X")
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise IdentityError(FIELD, f"birth date {number[6:14]} is not a real date") from None
    if born > today:
        raise IdentityError(FIELD, f"birth date {number[6:14]} is in the future")
    expected = check_character(number[:17])
    if number[17] != expected:
        raise IdentityError(
            FIELD, f"check character is wrong: expected {expected}, got {number[17]}"
        )
    return born, "male" if int(number[16]) % 2 else "female"


_PREFIXES = {
    DocumentType.HKMO_RESIDENCE_PERMIT: ("810000", "820000"),
    DocumentType.TW_RESIDENCE_PERMIT: ("830000",),
    DocumentType.FOREIGN_PERMANENT_RESIDENCE: ("9",),
}
_PATTERNS = {
    DocumentType.PASSPORT: (
        re.compile(r"^(?=.*\d)[A-Z0-9]{5,17}$"),
        "must be 5 to 17 letters and digits, with at least one digit",
    ),
    DocumentType.HKMO_TRAVEL_PERMIT: (
        re.compile(r"^[HM](\d{8}|\d{10})$"),
        "must be H or M followed by 8 or 10 digits",
    ),
    DocumentType.TW_TRAVEL_PERMIT: (re.compile(r"^(\d{8}|\d{10})$"), "must be 8 or 10 digits"),
}
_OLD_FOREIGN = re.compile(r"^[A-Z]{3}\d{12}$")


def parse_identity(
    document_type: DocumentType | str, raw: str, today: date | None = None
) -> IdentityInfo:
    """Check and normalise a document number; derive birth date and gender where it has them."""
    try:
        kind = DocumentType(document_type)
    except ValueError:
        raise IdentityError("document_type", f"unknown document type {document_type!r}") from None
    number = raw.strip()
    if not number.isascii():
        raise IdentityError(
            FIELD,
            "must be written in ASCII digits and letters; full-width characters are not accepted",
        )
    number = number.upper()
    today = today or date.today()
    if kind in _PATTERNS:
        pattern, reason = _PATTERNS[kind]
        if not pattern.match(number):
            raise IdentityError(FIELD, reason)
        return IdentityInfo(kind, number)
    if kind == DocumentType.FOREIGN_PERMANENT_RESIDENCE and len(number) == 15:
        if not _OLD_FOREIGN.match(number):
            raise IdentityError(FIELD, "a 15-character card is 3 letters followed by 12 digits")
        return IdentityInfo(kind, number)
    born, gender = _eighteen(number, today)
    prefixes = _PREFIXES.get(kind)
    if prefixes and not number.startswith(prefixes):
        raise IdentityError(FIELD, f"a {kind.value} number starts with {' or '.join(prefixes)}")
    if kind == DocumentType.RESIDENT_ID and number[:2] not in PROVINCES:
        raise IdentityError(FIELD, f"region code {number[:6]} is not a mainland province")
    return IdentityInfo(kind, number, born, gender)


_CJK = r"\u3400-\u4dbf\u4e00-\u9fff"
_CHINESE_NAME = re.compile(rf"^[{_CJK}]+(·[{_CJK}]+)*$")
_LATIN = r"A-Za-z\u00c0-\u024f"
_LATIN_NAME = re.compile(rf"^[{_LATIN}]+([ '\-·][{_LATIN}]+)*$")


def validate_name(raw: str) -> str:
    """A learner's name: Chinese, or Latin letters, with the middle dot allowed."""
    name = raw.strip().replace("•", "·").replace("・", "·")
    if not 1 <= len(name) <= 50:
        raise IdentityError("name", "must be 1 to 50 characters")
    if not (_CHINESE_NAME.match(name) or _LATIN_NAME.match(name)):
        raise IdentityError(
            "name",
            "must be written in Chinese or in Latin letters (not mixed), with single "
            "spaces, hyphens, apostrophes or middle dots between parts; no digits",
        )
    return name


_MOBILE = re.compile(r"^1[3-9]\d{9}$")


def validate_mobile(raw: str) -> str:
    """A mainland mobile number: 11 ASCII digits starting 13-19."""
    number = raw.strip()
    if not number.isascii() or not _MOBILE.match(number):
        raise IdentityError(
            "phone", "must be a mainland mobile number: 11 digits starting 13 to 19"
        )
    return number


def check_agreement(info: IdentityInfo, birth_date: date | None, gender: str | None) -> None:
    """What the window also sends must agree with what the document number says."""
    if birth_date is not None and info.birth_date is not None and birth_date != info.birth_date:
        raise IdentityError(
            "birth_date", f"does not agree with the document number ({info.birth_date.isoformat()})"
        )
    if gender is not None and info.gender is not None and gender != info.gender:
        raise IdentityError("gender", f"does not agree with the document number ({info.gender})")
