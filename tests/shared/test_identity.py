"""The identity rules: GB 11643 check characters, dates, ASCII, document formats, names,
mobile numbers; with published numbers, every single-character mutation of them, and
property-based cases."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.identity import (
    PROVINCES,
    DocumentType,
    IdentityError,
    check_agreement,
    check_character,
    parse_identity,
    validate_mobile,
    validate_name,
)

TODAY = date(2026, 11, 27)


def valid(first17: str) -> str:
    return first17 + check_character(first17)


# Published GB 11643 examples, and permits built the same way.
KNOWN_GOOD = {
    DocumentType.RESIDENT_ID: [
        "11010519491231002X",
        "440524188001010014",
        valid("33010219900307123"),
    ],
    DocumentType.HKMO_RESIDENCE_PERMIT: [valid("81000019940823002")],
    DocumentType.TW_RESIDENCE_PERMIT: [valid("83000019850101004")],
    DocumentType.FOREIGN_PERMANENT_RESIDENCE: [valid("93310219800101005")],
}


def test_published_numbers_are_accepted_with_birth_date_and_gender() -> None:
    info = parse_identity("resident_id", "11010519491231002X", TODAY)
    assert info.birth_date == date(1949, 12, 31) and info.gender == "female"
    info = parse_identity("resident_id", "440524188001010014", TODAY)
    assert info.birth_date == date(1880, 1, 1) and info.gender == "male"
    for kind, numbers in KNOWN_GOOD.items():
        for number in numbers:
            assert parse_identity(kind, number, TODAY).number == number


@pytest.mark.parametrize(("kind", "number"), [(k, n) for k, ns in KNOWN_GOOD.items() for n in ns])
def test_every_single_character_mutation_is_refused(kind: DocumentType, number: str) -> None:
    refused = 0
    for position in range(18):
        for char in "0123456789X":
            if char == number[position]:
                continue
            mutated = number[:position] + char + number[position + 1 :]
            with pytest.raises(IdentityError) as caught:
                parse_identity(kind, mutated, TODAY)
            assert caught.value.field == "document_number"
            refused += 1
    assert refused == 18 * 10


def test_refusal_reasons_say_what_is_wrong() -> None:
    good = valid("33010219900307123")
    wrong = good[:-1] + ("1" if good[-1] != "1" else "2")
    with pytest.raises(IdentityError, match=f"expected {good[-1]}"):
        parse_identity("resident_id", wrong, TODAY)
    with pytest.raises(IdentityError, match="not a real date"):
        parse_identity("resident_id", valid("33010219900230123"), TODAY)
    with pytest.raises(IdentityError, match="in the future"):
        parse_identity("resident_id", valid("33010220991231123"), TODAY)
    with pytest.raises(IdentityError, match="18 characters"):
        parse_identity("resident_id", good[:-1], TODAY)
    with pytest.raises(IdentityError, match="ASCII"):
        parse_identity("resident_id", good.replace("3", "３"), TODAY)
    with pytest.raises(IdentityError, match="starts with 810000 or 820000"):
        parse_identity("hkmo_residence_permit", good, TODAY)
    with pytest.raises(IdentityError, match="province") as caught:
        parse_identity("resident_id", valid("99010219900307123"), TODAY)
    assert caught.value.field == "document_number"
    with pytest.raises(IdentityError) as caught:
        parse_identity("driving_licence", good, TODAY)
    assert caught.value.field == "document_type"


def test_lower_case_x_is_normalised() -> None:
    assert parse_identity("resident_id", "11010519491231002x", TODAY).number.endswith("X")


@pytest.mark.parametrize(
    ("kind", "good", "bad"),
    [
        ("passport", ["E12345678", "g1234567", "PA1234567"], ["ABCDEFG", "E1", "E1234-5678"]),
        ("hkmo_travel_permit", ["H12345678", "M1234567890"], ["H1234567", "X12345678"]),
        ("tw_travel_permit", ["12345678", "1234567890"], ["1234567", "A1234567"]),
        ("foreign_permanent_residence", ["USA330102800101"], ["US3301028001011", "USA33010280010"]),
    ],
)
def test_other_documents(kind: str, good: list[str], bad: list[str]) -> None:
    for number in good:
        info = parse_identity(kind, number, TODAY)
        assert info.number == number.upper() and info.birth_date is None
    for number in bad:
        with pytest.raises(IdentityError):
            parse_identity(kind, number, TODAY)


@st.composite
def resident_numbers(draw: st.DrawFn) -> tuple[str, date, str]:
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=TODAY))
    region = draw(st.sampled_from(sorted(PROVINCES))) + f"{draw(st.integers(0, 9999)):04d}"
    seq = f"{draw(st.integers(0, 999)):03d}"
    first17 = f"{region}{born:%Y%m%d}{seq}"
    return first17 + check_character(first17), born, "male" if int(seq[-1]) % 2 else "female"


@settings(max_examples=300, deadline=None)
@given(resident_numbers())
def test_property_well_formed_numbers_parse(case: tuple[str, date, str]) -> None:
    number, born, gender = case
    info = parse_identity("resident_id", number, TODAY)
    assert (info.number, info.birth_date, info.gender) == (number, born, gender)
    assert parse_identity("resident_id", number.lower(), TODAY).number == number


@settings(max_examples=300, deadline=None)
@given(resident_numbers(), st.sampled_from("0123456789X"))
def test_property_any_other_check_character_is_refused(case, char: str) -> None:
    number = case[0]
    if char != number[-1]:
        with pytest.raises(IdentityError, match="check character"):
            parse_identity("resident_id", number[:-1] + char, TODAY)


@settings(max_examples=300, deadline=None)
@given(resident_numbers(), st.integers(0, 17), st.integers(0, 9))
def test_property_full_width_digits_are_refused(case, position: int, digit: int) -> None:
    number = case[0]
    full_width = number[:position] + chr(0xFF10 + digit) + number[position + 1 :]
    with pytest.raises(IdentityError, match="ASCII"):
        parse_identity("resident_id", full_width, TODAY)


@settings(max_examples=300, deadline=None)
@given(st.integers(1900, 2100), st.integers(1, 15), st.integers(1, 35))
def test_property_impossible_or_future_dates_are_refused(year: int, month: int, day: int) -> None:
    first17 = f"330102{year:04d}{month:02d}{day:02d}123"
    try:
        born: date | None = date(year, month, day)
    except ValueError:
        born = None
    if born is not None and born <= TODAY:
        assert parse_identity("resident_id", valid(first17), TODAY).birth_date == born
    else:
        with pytest.raises(IdentityError, match=r"real date|future"):
            parse_identity("resident_id", valid(first17), TODAY)


def test_names() -> None:
    for good in ("张三", "买买提·艾力", "欧阳娜娜", "John O'Brien", "Anne-Marie Dupont", "José"):
        assert validate_name(f" {good} ") == good
    assert validate_name("买买提•艾力") == "买买提·艾力"
    for bad in ("", "Zhang三", "张3", "John  Smith", "·张三", "张三·", "张··三", "a" * 51):
        with pytest.raises(IdentityError) as caught:
            validate_name(bad)
        assert caught.value.field == "name"


def test_mobile_numbers() -> None:
    assert validate_mobile(" 13800138000 ") == "13800138000"
    assert validate_mobile("19912345678") == "19912345678"
    for bad in (
        "12345678901",
        "1380013800",
        "１３８００１３８０００",
        "138-0013-8000",
        "+8613800138000",
    ):
        with pytest.raises(IdentityError) as caught:
            validate_mobile(bad)
        assert caught.value.field == "phone"


def test_sent_birth_date_and_gender_must_agree() -> None:
    info = parse_identity("resident_id", "11010519491231002X", TODAY)
    check_agreement(info, date(1949, 12, 31), "female")
    check_agreement(info, None, None)
    with pytest.raises(IdentityError) as caught:
        check_agreement(info, date(1949, 12, 31) + timedelta(days=1), None)
    assert caught.value.field == "birth_date"
    with pytest.raises(IdentityError) as caught:
        check_agreement(info, None, "male")
    assert caught.value.field == "gender"
