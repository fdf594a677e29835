"""The conversion rules as pure functions: which rule takes an outcome, the credits it gives,
why one does not apply, and a decision recomputed from its snapshot alone."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from services.intake.conversion import caps, rules
from services.intake.conversion.rules import Facts, Rule


def rule(number: int = 1, **fields: object) -> Rule:
    base: dict[str, object] = {
        "id": number,
        "number": number,
        "source": "training",
        "target_institution": "U1",
        "target_programme": "U1-CS",
        "target_course": "U1-CS-EL",
        "method": "per_hours",
        "hours_per_credit": "16",
        "max_credits": "6",
    }
    base.update(fields)
    return Rule(**base)  # type: ignore[arg-type]


def training(hours: str = "48", on: str = "2026-03-20", **fields: object) -> Facts:
    return Facts(entry_id=1, kind="social_training", on=on, hours=hours, **fields)  # type: ignore[arg-type]


def certificate(level: str = "中级", on: str = "2025-06-01", code: str = "C-WEB") -> Facts:
    return Facts(entry_id=2, kind="skill_certificate", on=on, catalogue_code=code, level=level)


TARGET = ("U1", "U1-CS", None)
DAY = date(2026, 12, 1)


@pytest.mark.parametrize(
    ("hours", "credits"),
    [
        ("16", "1.0"),
        ("24", "1.5"),
        ("31.9", "1.5"),
        ("40", "2.5"),
        ("15.9", "0.5"),
        ("7.9", "0.0"),
        ("500", "6.0"),
    ],
)
def test_credits_from_hours_are_floored_to_a_half_and_capped(hours: str, credits: str) -> None:
    assert rules.credits_of(rule(), training(hours)) == Decimal(credits)


def test_a_fixed_rule_gives_its_credits_whatever_the_hours() -> None:
    fixed = rule(method="fixed", credits="3", hours_per_credit=None, max_credits=None)
    assert rules.credits_of(fixed, training("1")) == Decimal("3.0")


def test_the_rule_giving_most_is_taken_and_every_candidate_is_shown() -> None:
    small = rule(1, method="fixed", credits="2", hours_per_credit=None, max_credits=None)
    large = rule(2)  # 48 h -> 3 credits
    too_many_hours = rule(3, min_hours="100")
    applied = rules.apply([small, large, too_many_hours], training("48"), TARGET, DAY)
    assert applied.rule == large and applied.credits == Decimal("3.0")
    assert [(r.number, c, unmet) for r, c, unmet in applied.candidates] == [
        (1, Decimal("2.0"), None),
        (2, Decimal("3.0"), None),
        (3, None, "48 hours is fewer than 100"),
    ]


def test_a_tie_goes_to_the_rule_numbered_first() -> None:
    first, second = rule(1), rule(2)
    assert rules.apply([second, first], training(), TARGET, DAY).rule == first


def test_rules_of_another_target_or_source_are_not_candidates() -> None:
    other_programme = rule(1, target_programme="U1-ME")
    other_organiser = rule(2, organiser="另一家培训机构")
    a_certificate = rule(3, source="certificate", catalogue_code="C-WEB")
    applied = rules.apply(
        [other_programme, other_organiser, a_certificate],
        training(organiser="杭州市职业技能培训中心"),
        TARGET,
        DAY,
    )
    assert applied.rule is None and applied.candidates == ()


def test_a_course_named_as_target_keeps_only_that_course() -> None:
    elsewhere = rule(1, target_course="U1-CS-WEB")
    assert rules.apply([elsewhere], training(), ("U1", "U1-CS", "U1-CS-EL"), DAY).rule is None
    assert rules.apply([elsewhere], training(), ("U1", "U1-CS", "U1-CS-WEB"), DAY).rule is not None


def test_a_certificate_must_reach_the_rules_level_in_either_way_of_writing_it() -> None:
    needs = rule(source="certificate", catalogue_code="C-WEB", min_level="中级")
    assert rules.unmet(needs, certificate("中级"), DAY) is None
    assert rules.unmet(needs, certificate("高级"), DAY) is None
    assert rules.unmet(needs, certificate("初级"), DAY) == "level 初级 is below 中级"
    by_grade = rule(source="certificate", catalogue_code="C-WEB", min_level="三级")
    assert rules.unmet(by_grade, certificate("二级"), DAY) is None
    assert rules.unmet(by_grade, certificate("四级"), DAY) == "level 四级 is below 三级"


def test_an_outcome_older_than_the_rule_allows_on_the_application_date() -> None:
    three_years = rule(max_age_years=3)
    assert rules.unmet(three_years, training(on="2023-12-01"), DAY) is None  # exactly 3 years
    assert rules.unmet(three_years, training(on="2023-11-30"), DAY) == (
        "older than 3 years on 2026-12-01 (2023-11-30)"
    )


def test_years_before_a_29th_of_february() -> None:
    assert rules.years_before(date(2028, 2, 29), 1) == date(2027, 2, 28)
    assert rules.years_before(date(2028, 2, 29), 4) == date(2024, 2, 29)


def test_a_minimum_score_needs_a_score() -> None:
    course = rule(source="course", source_institution="某大学", min_score="60")
    graded = Facts(entry_id=3, kind="academic_credit", on="2026-01-10", institution="某大学")
    assert rules.unmet(course, graded, DAY) == "score unknown is below 60"
    scored = Facts(
        entry_id=3, kind="academic_credit", on="2026-01-10", institution="某大学", score="59.5"
    )
    assert rules.unmet(course, scored, DAY) == "score 59.5 is below 60"


def test_a_decision_is_recomputed_from_its_snapshot_alone() -> None:
    taken = rules.apply([rule()], training("40"), TARGET, DAY)
    snapshot = {
        "outcomes": [
            {
                "facts": taken.facts.as_dict(),
                "rule": taken.rule.as_dict() if taken.rule else None,
                "credits": str(taken.credits),
            }
        ],
        "expert": None,
    }
    assert rules.recompute(snapshot) == Decimal("2.5")
    snapshot["expert"] = {"credits": "4", "reason": "专家认定"}
    assert rules.recompute(snapshot) == Decimal("4")


@pytest.mark.parametrize(
    ("day", "starts", "first"),
    [
        (date(2026, 2, 28), "03-01", date(2025, 3, 1)),
        (date(2026, 3, 1), "03-01", date(2026, 3, 1)),
        (date(2026, 12, 31), "01-01", date(2026, 1, 1)),
        (date(2026, 1, 1), "01-01", date(2026, 1, 1)),
    ],
)
def test_the_cap_year_turns_on_its_configured_day(day: date, starts: str, first: date) -> None:
    assert caps.year_start(day, starts) == first
