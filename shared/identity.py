"""Identity documents as a service window meets them (pure functions, no I/O).

Eighteen-character numbers (resident ID cards, the Hong Kong/Macao and Taiwan residents'
residence permits, the 2023 foreigner's permanent residence ID card) follow GB 11643-1999:
six digits of region, eight of birth date, three of sequence (odd for men, even for women)
and a check character computed with ISO 7064 MOD 11-2 over the first seventeen. The check
catches every single mistyped character, so a number that passes was at least copied whole.

Every refusal is an ``IdentityError`` naming the request field and a reason a window clerk
can act on; reasons never repeat the whole number back, since they end up in responses.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from operator import mul

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
WEIGHTS_SUM = sum(WEIGHTS)
CHECK_CHARACTERS = "10X98765432"
# GB/T 2260 province-level codes of the mainland, in its six greater regions. Hong Kong,
# Macao and Taiwan (81, 82, 83) are left out on purpose: their permits are other types.
_PROVINCE_BLOCKS = (
    range(11, 16),  # North
    range(21, 24),  # Northeast
    range(31, 38),  # East
    range(41, 47),  # Central-South
    range(50, 55),  # Southwest
    range(61, 66),  # Northwest
)
PROVINCES = frozenset(str(code) for block in _PROVINCE_BLOCKS for code in block)
# The standard's own example (440524188001010014) was born in 1880, so 1900 is too late a
# floor; the four-digit year exists to reach the 1800s, and anything earlier is a typo.
EARLIEST_BIRTH = date(1800, 1, 1)
FIELD = "document_number"


class DocumentType(enum.StrEnum):
    """The documents a window accepts; values are what clients send as ``document_type``."""

    RESIDENT_ID = "resident_id"
    HKMO_RESIDENCE_PERMIT = "hkmo_residence_permit"
    TW_RESIDENCE_PERMIT = "tw_residence_permit"
    FOREIGN_PERMANENT_RESIDENCE = "foreign_permanent_residence"
    PASSPORT = "passport"
    HKMO_TRAVEL_PERMIT = "hkmo_travel_permit"
    TW_TRAVEL_PERMIT = "tw_travel_permit"


# Each document's name as printed on it: what the window shows, an import's column may hold and
# a certificate prints beside the masked number.
DOCUMENT_NAMES: dict[str, str] = {  # keyed by DocumentType (its values, as stored)
    DocumentType.RESIDENT_ID: "居民身份证",
    DocumentType.HKMO_RESIDENCE_PERMIT: "港澳居民居住证",
    DocumentType.TW_RESIDENCE_PERMIT: "台湾居民居住证",
    DocumentType.FOREIGN_PERMANENT_RESIDENCE: "外国人永久居留身份证",
    DocumentType.PASSPORT: "护照",
    DocumentType.HKMO_TRAVEL_PERMIT: "港澳居民来往内地通行证",
    DocumentType.TW_TRAVEL_PERMIT: "台湾居民来往大陆通行证",
}


class IdentityError(ValueError):
    """A refusal a window clerk can act on: which field, and why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


@dataclass(frozen=True)
class IdentityInfo:
    """A checked document: the number as stored, and what it says about its holder."""

    document_type: DocumentType
    number: str
    birth_date: date | None = None
    gender: str | None = None


def check_character(first17: str) -> str:
    """The GB 11643 check character (ISO 7064 MOD 11-2) of seventeen digits.

    Only ASCII digits: ``int()`` also reads full-width ones and would quietly compute a check
    for a number that ``parse_identity`` refuses.
    """
    if len(first17) != 17 or not (first17.isascii() and first17.isdigit()):
        raise ValueError(f"expected 17 ASCII digits, got {len(first17)} characters")
    # The digits' code points less 48 each, summed by weight in C: a bulk import checks
    # 100,000 numbers, and a generator of int() calls took most of a row's identity check.
    total = sum(map(mul, first17.encode(), WEIGHTS)) - 48 * WEIGHTS_SUM
    return CHECK_CHARACTERS[total % 11]


_REGIONS: dict[DocumentType, tuple[tuple[str, ...], str]] = {
    DocumentType.RESIDENT_ID: ((), "must start with a mainland province code"),
    DocumentType.HKMO_RESIDENCE_PERMIT: (
        ("810000", "820000"),
        "must start with 810000 (Hong Kong) or 820000 (Macao)",
    ),
    DocumentType.TW_RESIDENCE_PERMIT: (("830000",), "must start with 830000"),
    DocumentType.FOREIGN_PERMANENT_RESIDENCE: (("9",), "must start with 9"),
}
_ALPHABETS: dict[DocumentType, str] = {
    DocumentType.PASSPORT: "letters and digits",
    DocumentType.HKMO_TRAVEL_PERMIT: "letters and digits",
    DocumentType.TW_TRAVEL_PERMIT: "digits",
    DocumentType.FOREIGN_PERMANENT_RESIDENCE: "letters and digits",
}
_PATTERNS = {
    DocumentType.PASSPORT: (
        re.compile(r"(?=.*\d)[A-Z0-9]{5,17}"),
        "must be 5 to 17 letters and digits, with at least one digit",
    ),
    DocumentType.HKMO_TRAVEL_PERMIT: (
        re.compile(r"[HM](?:\d{8}|\d{10})"),
        "must be H or M followed by 8 or 10 digits",
    ),
    DocumentType.TW_TRAVEL_PERMIT: (re.compile(r"\d{8}|\d{10}"), "must be 8 or 10 digits"),
}
# The card issued before 2023: a three-letter nationality code and twelve digits.
_OLD_FOREIGN = re.compile(r"[A-Z]{3}\d{12}")


def _document_type(value: DocumentType | str) -> DocumentType:
    try:
        return DocumentType(value)
    except ValueError:
        known = ", ".join(kind.value for kind in DocumentType)
        raise IdentityError("document_type", f"must be one of {known}") from None


def _require_ascii(kind: DocumentType, number: str) -> None:
    # Chinese input methods type full-width digits and Ｘ that look right on screen but would
    # be stored as different characters, so a later lookup of the same card would miss.
    if not number.isascii():
        alphabet = _ALPHABETS.get(kind, "digits and X")
        raise IdentityError(
            FIELD, f"must be written in ASCII {alphabet}; full-width characters are not accepted"
        )


def _region_kind(number: str) -> DocumentType | None:
    """Which eighteen-character document a number's leading digits belong to, if any."""
    if number[:2] in PROVINCES:
        return DocumentType.RESIDENT_ID
    for kind, (prefixes, _) in _REGIONS.items():
        if prefixes and number.startswith(prefixes):
            return kind
    return None


def _check_region(kind: DocumentType, number: str) -> None:
    found = _region_kind(number)
    if found is not kind:
        # The usual cause is the wrong document type picked at the window: say which fits.
        hint = f"; it looks like a {found.value} number" if found else ""
        raise IdentityError(FIELD, f"{_REGIONS[kind][1]}, got {number[:6]}{hint}")


def _birth_date(number: str, today: date) -> date:
    digits = number[6:14]
    try:
        born = date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        raise IdentityError(FIELD, f"birth date {digits} is not a real date") from None
    if born < EARLIEST_BIRTH:
        raise IdentityError(FIELD, f"birth date {digits} is before {EARLIEST_BIRTH.year}")
    if born > today:
        raise IdentityError(FIELD, f"birth date {digits} is in the future")
    return born


def _parse_eighteen(kind: DocumentType, number: str, today: date) -> IdentityInfo:
    if len(number) != 18:
        raise IdentityError(FIELD, f"must be 18 characters, got {len(number)}")
    if not number[:17].isdigit() or number[17] not in "0123456789X":
        raise IdentityError(FIELD, "must be 17 digits followed by a digit or X")
    _check_region(kind, number)
    born = _birth_date(number, today)
    expected = check_character(number[:17])
    if number[17] != expected:
        raise IdentityError(
            FIELD, f"check character is wrong: expected {expected}, got {number[17]}"
        )
    return IdentityInfo(kind, number, born, "male" if int(number[16]) % 2 else "female")


def _parse_old_foreign(number: str) -> IdentityInfo:
    if len(number) != 15:
        raise IdentityError(
            FIELD, f"must be 18 characters (15 on a card issued before 2023), got {len(number)}"
        )
    if not _OLD_FOREIGN.fullmatch(number):
        raise IdentityError(FIELD, "a 15-character card number is 3 letters and 12 digits")
    return IdentityInfo(DocumentType.FOREIGN_PERMANENT_RESIDENCE, number)


def parse_identity(
    document_type: DocumentType | str, raw: str, today: date | None = None
) -> IdentityInfo:
    """Check and normalise a document number; derive birth date and gender where it has them.

    ``today`` is the day the birth date must not be after; tests pass a fixed one.
    """
    kind = _document_type(document_type)
    number = raw.strip()
    _require_ascii(kind, number)
    # Upper-casing is how a lower-case check character x (and passport letters) normalise.
    number = number.upper()
    if kind in _PATTERNS:
        pattern, reason = _PATTERNS[kind]
        if not pattern.fullmatch(number):
            raise IdentityError(FIELD, reason)
        return IdentityInfo(kind, number)
    if kind is DocumentType.FOREIGN_PERMANENT_RESIDENCE and len(number) != 18:
        return _parse_old_foreign(number)
    return _parse_eighteen(kind, number, today or date.today())


# Look-alikes of the middle dot that input methods produce, and the typographic apostrophe
# that phones and word processors substitute; stored as the one form a lookup will match.
_SEPARATORS = str.maketrans({"•": "·", "・": "·", "’": "'"})
# The CJK unified ideographs: the basic block, Extension A, Extensions B to F and I (U+20000-
# U+2EE5F: 𠮷, 𫖯 and many a rare name), G and H (U+30000-U+323AF), and the twelve unified
# ideographs of the compatibility block (﨑, 﨔...; NFC maps the block's others to their
# unified forms). Whether a font has a character is the printer's question, not the name's.
_CJK = (
    "\u3400-\u4dbf\u4e00-\u9fff\ufa0e\ufa0f\ufa11\ufa13\ufa14\ufa1f\ufa21\ufa23\ufa24"
    "\ufa27-\ufa29\U00020000-\U0002ee5f\U00030000-\U000323af"
)
# U+00D7 (×) and U+00F7 (÷) sit inside the accented letters' range but are not letters.
_LATIN = "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f"
_CHINESE_NAME = re.compile(rf"[{_CJK}]+(?:·[{_CJK}]+)*")
_LATIN_NAME = re.compile(rf"[{_LATIN}]+(?:[ '\-·][{_LATIN}]+)*")
_NAME_CHARACTER = re.compile(rf"[{_CJK}{_LATIN} '\-·]")
_HAS_CJK, _HAS_LATIN = re.compile(rf"[{_CJK}]"), re.compile(rf"[{_LATIN}]")


def _name_problem(name: str) -> str:
    """The most specific reason ``name`` is not a name, for the clerk to fix."""
    if any(ch.isdigit() for ch in name):
        return "must not contain digits"
    stranger = next((ch for ch in name if not _NAME_CHARACTER.fullmatch(ch)), None)
    if stranger is not None:
        return f"contains {stranger!r}, which is neither a Chinese character nor a Latin letter"
    if _HAS_CJK.search(name) and _HAS_LATIN.search(name):
        return "must be written wholly in Chinese or wholly in Latin letters, not mixed"
    return (
        "must separate its parts by a single middle dot (·), or in Latin letters also by a "
        "single space, hyphen or apostrophe; never two together or at either end"
    )


def validate_name(raw: str) -> str:
    """A learner's name as written on the document: Chinese, or Latin letters, never mixed."""
    # NFC so that an accent typed as a combining mark matches the same name typed precomposed.
    name = unicodedata.normalize("NFC", raw).strip().translate(_SEPARATORS)
    if not 1 <= len(name) <= 50:
        raise IdentityError("name", f"must be 1 to 50 characters, got {len(name)}")
    if not (_CHINESE_NAME.fullmatch(name) or _LATIN_NAME.fullmatch(name)):
        raise IdentityError("name", _name_problem(name))
    return name


_MOBILE = re.compile(r"1[3-9]\d{9}")


def validate_mobile(raw: str) -> str:
    """A mainland mobile number: 11 ASCII digits starting 13 to 19, written plainly.

    Strict on purpose: the number is stored encrypted and found by its keyed hash, so only one
    spelling of it may exist; "+86" and dashes are for the clerk to drop, not for us to guess.
    """
    number = raw.strip()
    if not number.isascii():
        raise IdentityError(
            "phone", "must be written in ASCII digits; full-width characters are not accepted"
        )
    if not _MOBILE.fullmatch(number):
        raise IdentityError(
            "phone",
            "must be a mainland mobile number: 11 digits starting 13 to 19, without "
            "spaces, dashes or +86",
        )
    return number


def check_agreement(info: IdentityInfo, birth_date: date | None, gender: str | None) -> None:
    """What the window also sends must agree with what the document number says.

    Either side may be silent: a passport has no birth date in its number, and a window need
    not send what the number already tells.
    """
    if birth_date is not None and info.birth_date is not None and birth_date != info.birth_date:
        raise IdentityError(
            "birth_date", f"does not agree with the document number ({info.birth_date.isoformat()})"
        )
    if gender is not None and info.gender is not None and gender != info.gender:
        raise IdentityError("gender", f"does not agree with the document number ({info.gender})")
