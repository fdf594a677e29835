"""Which rule of a standard matches an outcome, and the credits it gives: pure functions over
plain facts, so that a decision can be recomputed from the application alone (its snapshot
of the rules used and of the outcomes' facts), whatever has been published since.

A rule matches an outcome by its source: a certificate of the catalogue (its code, at a
level at least the rule's), a social training of an organiser (at least so many hours), a
course of an institution. Its conditions may ask the outcome to be at most N years old on the
application's date, or of a minimum score. It gives fixed credits, or credits from hours:
``floor(hours / hours_per_credit)`` to a half credit, at most ``max_credits``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import ROUND_FLOOR, Decimal
from typing import Any

CERTIFICATE_KINDS = ("vocational_certificate", "skill_certificate")
# Levels in rising order, in the two ways certificates write them.
LEVEL_RANK = {
    "初级": 1, "中级": 2, "高级": 3, "技师": 4, "高级技师": 5,
    "五级": 1, "四级": 2, "三级": 3, "二级": 4, "一级": 5,
}  # fmt: skip
SOURCES = ("certificate", "training", "course")
METHODS = ("fixed", "per_hours")
HALF = Decimal("0.5")


@dataclass(frozen=True)
class Facts:
    """What a rule may look at of an outcome (a ledger entry of a deposit or an import)."""

    entry_id: int
    kind: str
    on: str | None  # the outcome's date (ISO): issued, completed, ended
    hours: str = "0"
    credits: str = "0"
    catalogue_code: str | None = None
    level: str | None = None
    organiser: str | None = None
    institution: str | None = None
    course_code: str | None = None
    score: str | None = None
    title: str = ""
    evidence: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "evidence": list(self.evidence)}


@dataclass(frozen=True)
class Rule:
    """A rule as it was published (and as an application pins it)."""

    id: int
    number: int
    source: str
    target_institution: str
    target_programme: str
    method: str
    target_course: str | None = None
    catalogue_code: str | None = None
    organiser: str | None = None
    source_institution: str | None = None
    source_course: str | None = None
    min_level: str | None = None
    min_hours: str | None = None
    min_score: str | None = None
    max_age_years: int | None = None
    credits: str | None = None
    hours_per_credit: str | None = None
    max_credits: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def shown(value: Any) -> str:
    """An amount as a person reads it: 8, 2.5, 100 (not 8.0 or 1E+2)."""
    return f"{Decimal(str(value)).normalize():f}"


def _dec(value: str | None) -> Decimal:
    return Decimal(value) if value not in (None, "") else Decimal(0)


def source_matches(rule: Rule, facts: Facts) -> bool:
    """The rule is about this outcome (its kind and identifying fields), conditions aside."""
    if rule.source == "certificate":
        return facts.kind in CERTIFICATE_KINDS and facts.catalogue_code == rule.catalogue_code
    if rule.source == "training":
        organiser = rule.organiser is None or facts.organiser == rule.organiser
        return facts.kind == "social_training" and organiser
    if rule.source == "course":
        course = rule.source_course is None or facts.course_code == rule.source_course
        return (
            facts.kind == "academic_credit"
            and facts.institution == rule.source_institution
            and course
        )
    return False


def years_before(day: date, years: int) -> date:
    """The same day ``years`` earlier (28 February for a 29th when that year has none)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def unmet(rule: Rule, facts: Facts, applied_on: date) -> str | None:
    """Why a rule about this outcome does not take it (too old, level or hours too low,
    score too low: every reason, in that order), or None when every condition is met."""
    reasons = []
    if rule.max_age_years is not None and facts.on:
        oldest = years_before(applied_on, rule.max_age_years)
        if date.fromisoformat(facts.on) < oldest:
            reasons.append(
                f"older than {rule.max_age_years} years on {applied_on.isoformat()} ({facts.on})"
            )
    if rule.min_level is not None and LEVEL_RANK.get(facts.level or "", 0) < LEVEL_RANK.get(
        rule.min_level, 0
    ):
        reasons.append(f"level {facts.level or 'unknown'} is below {rule.min_level}")
    if rule.min_hours is not None and _dec(facts.hours) < _dec(rule.min_hours):
        reasons.append(f"{shown(facts.hours)} hours is fewer than {shown(rule.min_hours)}")
    if rule.min_score is not None and (
        facts.score is None or _dec(facts.score) < _dec(rule.min_score)
    ):
        score = shown(facts.score) if facts.score is not None else "unknown"
        reasons.append(f"score {score} is below {shown(rule.min_score)}")
    return "; ".join(reasons) or None


def credits_of(rule: Rule, facts: Facts) -> Decimal:
    """The credits the rule gives for the outcome (its conditions met)."""
    if rule.method == "fixed":
        return _dec(rule.credits)
    per = _dec(rule.hours_per_credit)
    raw = (_dec(facts.hours) / per * 2).to_integral_value(rounding=ROUND_FLOOR) / 2
    ceiling = _dec(rule.max_credits) if rule.max_credits else raw
    return min(raw, ceiling).quantize(Decimal("0.1"))


def aims_at(rule: Rule, institution: str, programme: str, course: str | None) -> bool:
    return (
        rule.target_institution == institution
        and rule.target_programme == programme
        and (course is None or rule.target_course == course)
    )


@dataclass(frozen=True)
class Applied:
    """What a standard's rules make of one outcome for one target."""

    facts: Facts
    rule: Rule | None  # the rule taken: the one giving the most credits (ties: its number)
    credits: Decimal
    candidates: tuple[tuple[Rule, Decimal | None, str | None], ...]  # (rule, credits, unmet)


def apply(
    rules: list[Rule], facts: Facts, target: tuple[str, str, str | None], applied_on: date
) -> Applied:
    """Every rule of the target about this outcome, with the credits each would give or why
    it does not apply; the one taken."""
    candidates = []
    for rule in rules:
        if aims_at(rule, *target) and source_matches(rule, facts):
            reason = unmet(rule, facts, applied_on)
            candidates.append((rule, None if reason else credits_of(rule, facts), reason))
    taken = [c for c in candidates if c[1] is not None]
    best = max(taken, key=lambda c: (c[1], -c[0].number), default=None)
    return Applied(
        facts,
        best[0] if best else None,
        best[1] if best and best[1] is not None else Decimal(0),
        tuple(candidates),
    )


def recompute(snapshot: dict[str, Any]) -> Decimal:
    """A conversion's credits from its application's own snapshot: each outcome's facts
    under the rule pinned for it, or the expert judgement's credits."""
    if snapshot.get("expert"):
        return Decimal(snapshot["expert"]["credits"])
    total = Decimal(0)
    for item in snapshot["outcomes"]:
        facts = Facts(**{**item["facts"], "evidence": tuple(item["facts"].get("evidence", ()))})
        total += credits_of(Rule(**item["rule"]), facts)
    return total
