"""The identity rules: GB 11643 check characters, dates, ASCII, document formats, names,
mobile numbers; with published numbers, every single-character mutation of them, and
property-based cases."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from shared.identity import (
    PROVINCES,
    DocumentType,
    IdentityError,
    IdentityInfo,
    check_agreement,
    check_character,
    parse_identity,
    validate_mobile,
    validate_name,
)

TODAY = date(2026, 11, 27)
EIGHTEEN_CHARACTER_TYPES = (
    DocumentType.RESIDENT_ID,
    DocumentType.HKMO_RESIDENCE_PERMIT,
    DocumentType.TW_RESIDENCE_PERMIT,
    DocumentType.FOREIGN_PERMANENT_RESIDENCE,
)
PROPERTY = settings(max_examples=300, deadline=None)


def valid(first17: str) -> str:
    return first17 + check_character(first17)


# Published GB 11643 examples, and permits built the same way.
KNOWN_GOOD = {
    DocumentType.RESIDENT_ID: [
        "11010519491231002X",
        "440524188001010014",
        valid("33010219900307123"),
    ],
    DocumentType.HKMO_RESIDENCE_PERMIT: [valid("81000019940823002"), valid("82000020010615001")],
    DocumentType.TW_RESIDENCE_PERMIT: [valid("83000019850101004")],
    DocumentType.FOREIGN_PERMANENT_RESIDENCE: [valid("93310219800101005")],
}
KNOWN_GOOD_CASES = [(kind, number) for kind, numbers in KNOWN_GOOD.items() for number in numbers]
GOOD = valid("33010219900307123")
WRONG_CHECK = "1" if GOOD[-1] != "1" else "2"


def refusal(kind: DocumentType | str, number: str) -> IdentityError:
    with pytest.raises(IdentityError) as caught:
        parse_identity(kind, number, TODAY)
    return caught.value


def test_published_examples_have_their_published_check_characters() -> None:
    assert check_character("11010519491231002") == "X"
    assert check_character("44052418800101001") == "4"
    info = parse_identity("resident_id", "11010519491231002X", TODAY)
    assert (info.birth_date, info.gender) == (date(1949, 12, 31), "female")
    info = parse_identity("resident_id", "440524188001010014", TODAY)
    assert (info.birth_date, info.gender) == (date(1880, 1, 1), "male")


@PROPERTY
@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_property_check_character_is_the_standards_weighted_sum(first17: str) -> None:
    # GB 11643's formula as written: the weighted sum of the digits, MOD 11.
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(d) * w for d, w in zip(first17, weights, strict=True))
    assert check_character(first17) == "10X98765432"[total % 11]


@pytest.mark.parametrize(
    "first17",
    ["1101051949123100", "110105194912310021", "１１010519491231002", "1101051949123100X"],
)
def test_check_character_takes_seventeen_ascii_digits_only(first17: str) -> None:
    with pytest.raises(ValueError, match="17 ASCII digits"):
        check_character(first17)


@pytest.mark.parametrize(("kind", "number"), KNOWN_GOOD_CASES)
def test_known_good_numbers_yield_birth_date_and_gender(kind: DocumentType, number: str) -> None:
    info = parse_identity(kind.value, number, TODAY)
    born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    gender = "male" if int(number[16]) % 2 else "female"
    assert info == IdentityInfo(kind, number, born, gender)


@pytest.mark.parametrize(("kind", "number"), KNOWN_GOOD_CASES)
def test_every_single_character_mutation_is_refused(kind: DocumentType, number: str) -> None:
    # MOD 11-2 detects every single substitution, so no mutation can be another valid number.
    refused = 0
    for position in range(18):
        for char in "0123456789X":
            if char == number[position]:
                continue
            mutated = number[:position] + char + number[position + 1 :]
            assert refusal(kind, mutated).field == "document_number", mutated
            refused += 1
    assert refused == 18 * 10


@pytest.mark.parametrize(
    ("kind", "number", "reason"),
    [
        (
            "resident_id",
            GOOD[:-1] + WRONG_CHECK,
            f"check character is wrong: expected {GOOD[-1]}, got {WRONG_CHECK}",
        ),
        ("resident_id", valid("33010219900230123"), "birth date 19900230 is not a real date"),
        ("resident_id", valid("33010219001301123"), "birth date 19001301 is not a real date"),
        ("resident_id", valid("33010219000229123"), "birth date 19000229 is not a real date"),
        ("resident_id", valid("33010220991231123"), "birth date 20991231 is in the future"),
        ("resident_id", valid("33010217991231123"), "birth date 17991231 is before 1800"),
        ("resident_id", GOOD[:-1], "must be 18 characters, got 17"),
        ("resident_id", "", "must be 18 characters, got 0"),
        ("resident_id", GOOD[:-1] + "A", "must be 17 digits followed by a digit or X"),
        ("resident_id", "X" + GOOD[1:], "must be 17 digits followed by a digit or X"),
        (
            "resident_id",
            GOOD.replace("3", "３"),
            "must be written in ASCII digits and X; full-width characters are not accepted",
        ),
        ("resident_id", "11010519491231002Ｘ", "ASCII digits and X"),
        ("passport", "Ｅ12345678", "ASCII letters and digits"),
        ("tw_travel_permit", "１2345678", "ASCII digits;"),
        (
            "resident_id",
            KNOWN_GOOD[DocumentType.HKMO_RESIDENCE_PERMIT][0],
            "must start with a mainland province code, got 810000; "
            "it looks like a hkmo_residence_permit number",
        ),
        (
            "resident_id",
            valid("99010219900307123"),
            "must start with a mainland province code, got 990102; "
            "it looks like a foreign_permanent_residence number",
        ),
        ("resident_id", valid("80010219900307123"), "province code, got 800102"),
        (
            "hkmo_residence_permit",
            GOOD,
            "must start with 810000 (Hong Kong) or 820000 (Macao), got 330102; "
            "it looks like a resident_id number",
        ),
        ("tw_residence_permit", valid("81000019940823002"), "must start with 830000, got 810000"),
        ("foreign_permanent_residence", GOOD, "must start with 9, got 330102"),
        ("foreign_permanent_residence", "USA3301028001011", "15 on a card issued before 2023"),
        ("foreign_permanent_residence", "US3301028001011", "3 letters and 12 digits"),
    ],
)
def test_refusal_reasons_say_what_to_fix(kind: str, number: str, reason: str) -> None:
    error = refusal(kind, number)
    assert error.field == "document_number"
    assert reason in error.reason, error.reason


def test_an_unknown_document_type_is_refused_on_its_own_field() -> None:
    error = refusal("driving_licence", GOOD)
    assert error.field == "document_type" and "resident_id" in error.reason


def test_surrounding_whitespace_is_dropped_and_lower_case_x_raised() -> None:
    info = parse_identity(DocumentType.RESIDENT_ID, " \t11010519491231002x\u3000\n", TODAY)
    assert info.number == "11010519491231002X"


@pytest.mark.parametrize(
    ("kind", "good", "bad"),
    [
        ("passport", ["E12345678", "g1234567", "PA1234567", "K1234"], ["ABCDEFG", "E1", "E12-45"]),
        (
            "hkmo_travel_permit",
            ["H12345678", "m1234567890"],
            ["H1234567", "X12345678", "H123456789"],
        ),
        ("tw_travel_permit", ["12345678", "1234567890"], ["1234567", "A1234567", "123456789"]),
        ("foreign_permanent_residence", ["USA330102800101", "chn110000900101"], ["USA33010280010"]),
    ],
)
def test_other_documents(kind: str, good: list[str], bad: list[str]) -> None:
    for number in good:
        info = parse_identity(kind, number, TODAY)
        assert info == IdentityInfo(DocumentType(kind), number.upper())
    for number in bad:
        assert refusal(kind, number).field == "document_number"


# Per type: the fixed start of the region, and how many free digits follow it.
REGIONS = {
    DocumentType.RESIDENT_ID: (st.sampled_from(sorted(PROVINCES)), 4),
    DocumentType.HKMO_RESIDENCE_PERMIT: (st.sampled_from(["810000", "820000"]), 0),
    DocumentType.TW_RESIDENCE_PERMIT: (st.just("830000"), 0),
    DocumentType.FOREIGN_PERMANENT_RESIDENCE: (st.just("9"), 5),
}


@st.composite
def eighteen(draw: st.DrawFn, kind: DocumentType | None = None) -> tuple[DocumentType, str]:
    """A well-formed 18-character number of ``kind`` (any, if None), without its check."""
    kind = kind or draw(st.sampled_from(EIGHTEEN_CHARACTER_TYPES))
    fixed, free = REGIONS[kind]
    region = draw(fixed) + draw(st.text("0123456789", min_size=free, max_size=free))
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=TODAY))
    sequence = f"{draw(st.integers(0, 999)):03d}"
    return kind, f"{region}{born:%Y%m%d}{sequence}"


@PROPERTY
@given(eighteen())
def test_property_well_formed_numbers_parse(case: tuple[DocumentType, str]) -> None:
    kind, first17 = case
    info = parse_identity(kind, valid(first17), TODAY)
    assert info.number == valid(first17)
    assert info.birth_date == date(int(first17[6:10]), int(first17[10:12]), int(first17[12:14]))
    assert info.gender == ("male" if int(first17[16]) % 2 else "female")


@PROPERTY
@given(st.text("0123456789", min_size=17, max_size=17), st.sampled_from("0123456789X"))
def test_property_any_digits_with_a_wrong_check_are_refused(first17: str, last: str) -> None:
    if last != check_character(first17):
        assert refusal("resident_id", first17 + last).field == "document_number"


@PROPERTY
@given(eighteen(), st.sampled_from("0123456789X"))
def test_property_a_wrong_check_is_named_as_such(case: tuple[DocumentType, str], last: str) -> None:
    kind, first17 = case
    if last != check_character(first17):
        assert refusal(kind, first17 + last).reason.startswith("check character is wrong")


@PROPERTY
@given(eighteen())
def test_property_lower_case_x_normalises(case: tuple[DocumentType, str]) -> None:
    kind, first17 = case
    # Step the sequence until the check is X: its last two digits reach every residue mod 11.
    while check_character(first17) != "X":
        first17 = first17[:14] + f"{(int(first17[14:]) + 1) % 1000:03d}"
    assert parse_identity(kind, first17 + "x", TODAY).number == first17 + "X"


@PROPERTY
@given(
    st.sampled_from(list(DocumentType)),
    st.text(),
    st.integers(0, 9),
    st.integers(0, 100),
)
def test_property_a_full_width_digit_is_refused_anywhere(
    kind: DocumentType, text: str, digit: int, position: int
) -> None:
    position = min(position, len(text))
    number = text[:position] + chr(0xFF10 + digit) + text[position:]
    error = refusal(kind, number)
    assert error.field == "document_number"
    assert "ASCII" in error.reason and "full-width characters are not accepted" in error.reason


def _is_real(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


@PROPERTY
@given(eighteen(), st.integers(1900, 2026), st.integers(0, 13), st.integers(0, 32))
@example((DocumentType.RESIDENT_ID, "33010219900307123"), 1900, 2, 29)  # 1900 was no leap year
@example((DocumentType.RESIDENT_ID, "33010219900307123"), 2024, 2, 30)
@example((DocumentType.RESIDENT_ID, "33010219900307123"), 2024, 4, 31)
def test_property_impossible_dates_are_refused(
    case: tuple[DocumentType, str], year: int, month: int, day: int
) -> None:
    kind, first17 = case
    assume(not _is_real(year, month, day))
    written = f"{year:04d}{month:02d}{day:02d}"
    first17 = f"{first17[:6]}{written}{first17[14:]}"
    assert refusal(kind, valid(first17)).reason == f"birth date {written} is not a real date"


@PROPERTY
@given(eighteen(), st.dates(min_value=TODAY + timedelta(days=1)))
def test_property_future_dates_are_refused(case: tuple[DocumentType, str], born: date) -> None:
    kind, first17 = case
    first17 = f"{first17[:6]}{born:%Y%m%d}{first17[14:]}"
    assert refusal(kind, valid(first17)).reason == f"birth date {born:%Y%m%d} is in the future"


@PROPERTY
@given(eighteen(), st.dates(min_value=date(1000, 1, 1), max_value=date(1799, 12, 31)))
def test_property_dates_before_1800_are_refused(case: tuple[DocumentType, str], born: date) -> None:
    kind, first17 = case
    first17 = f"{first17[:6]}{born:%Y%m%d}{first17[14:]}"
    assert refusal(kind, valid(first17)).reason.endswith("is before 1800")


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        (" 张三 ", "张三"),
        ("欧阳娜娜", "欧阳娜娜"),
        ("买买提·艾力", "买买提·艾力"),
        ("买买提•艾力", "买买提·艾力"),
        ("买买提・艾力", "买买提·艾力"),
        ("\u3000㐀明\u3000", "㐀明"),
        ("𠮷野家", "𠮷野家"),  # U+20BB7, Extension B
        ("李𫖯", "李𫖯"),  # U+2B5AF, Extension C
        ("山﨑", "山﨑"),  # U+FA11, a unified ideograph in the compatibility block
        ("\U00030000明", "\U00030000明"),  # Extension G
        ("John O'Brien", "John O'Brien"),
        ("John O’Brien", "John O'Brien"),
        ("Anne-Marie Dupont", "Anne-Marie Dupont"),
        ("José Núñez", "José Núñez"),
        ("Jose\u0301", "José"),
        ("Zoë·Łukasiewicz", "Zoë·Łukasiewicz"),
        ("A" * 50, "A" * 50),
    ],
)
def test_good_names_are_trimmed_and_normalised(raw: str, name: str) -> None:
    assert validate_name(raw) == name


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "1 to 50 characters, got 0"),
        ("   ", "1 to 50 characters, got 0"),
        ("a" * 51, "1 to 50 characters, got 51"),
        ("张3", "digits"),
        ("John Smith 2", "digits"),
        ("张３", "digits"),
        ("Zhang三", "not mixed"),
        ("张三 Smith", "not mixed"),
        ("John×Smith", "'×'"),
        ("Ｊｏｈｎ", "neither a Chinese character nor a Latin letter"),
        ("Иван", "neither"),
        ("张\U0002ffff", "neither"),  # between Extensions I and G: no ideograph
        ("John.Smith", "neither"),
        ("John  Smith", "single"),
        ("张 三", "single"),
        ("·张三", "single"),
        ("张三·", "single"),
        ("张··三", "single"),
        ("Anne--Marie", "single"),
        ("O'", "single"),
    ],
)
def test_bad_names_are_refused_with_a_reason(raw: str, reason: str) -> None:
    with pytest.raises(IdentityError) as caught:
        validate_name(raw)
    assert caught.value.field == "name" and reason in caught.value.reason, caught.value.reason


def test_mobile_numbers() -> None:
    assert validate_mobile(" 13800138000 ") == "13800138000"
    assert validate_mobile("19912345678") == "19912345678"
    for bad in ("12345678901", "1380013800", "138-0013-8000", "+8613800138000", "8613800138000"):
        with pytest.raises(IdentityError, match="11 digits starting 13 to 19") as caught:
            validate_mobile(bad)
        assert caught.value.field == "phone"
    with pytest.raises(IdentityError, match="ASCII digits; full-width") as caught:
        validate_mobile("１３８００１３８０００")
    assert caught.value.field == "phone"


def test_sent_birth_date_and_gender_must_agree() -> None:
    info = parse_identity("resident_id", "11010519491231002X", TODAY)
    check_agreement(info, date(1949, 12, 31), "female")
    check_agreement(info, None, None)
    with pytest.raises(IdentityError) as caught:
        check_agreement(info, date(1949, 12, 31) + timedelta(days=1), None)
    assert (caught.value.field, caught.value.reason) == (
        "birth_date",
        "does not agree with the document number (1949-12-31)",
    )
    with pytest.raises(IdentityError) as caught:
        check_agreement(info, None, "male")
    assert (caught.value.field, caught.value.reason) == (
        "gender",
        "does not agree with the document number (female)",
    )


def test_a_document_without_birth_date_or_gender_agrees_with_what_is_sent() -> None:
    check_agreement(parse_identity("passport", "E12345678", TODAY), date(1990, 1, 1), "male")
