"""The assessment figures (考核): what intake holds for a date range, rolled up by the org tree,
and a score per unit from a configurable weighting of the indicators.

Indicators of a group, over the inclusive calendar days ``date_from``..``date_to`` in China
time (Asia/Shanghai), i.e. timestamps in [date_from 00:00, date_to + 1 00:00) there:

- ``accounts_opened``: accounts whose ``opened_at`` falls in the range, under the point that
  opened them;
- ``deposits`` (and ``deposits_by_kind``): ledger entries posted in the range, from an
  application or a bulk-import record, under the point that took them (summed from the
  ledger's daily and monthly roll-ups, ``rollups``: the same figures, at any scale);
- ``social_training_records`` and ``social_training_hours``: the social-training entries
  among them, and their hours;
- ``decided`` and ``rejected``: applications (every kind) approved or rejected in the range;
- ``turnaround_median_hours`` and ``turnaround_p90_hours``: of those, ``final_at -
  created_at``, with linear interpolation between the two nearest values (PostgreSQL's
  ``percentile_cont``), in hours to 2 decimals; null when there are none;
- ``rejection_rate``: rejected / decided, 4 decimals; null when nothing was decided.

A group is a record's ancestor at the level asked for (``by``), read from its materialised
path; a record with no ancestor at that level (a point directly under a branch, by county; a
sub-centre directly under the centre, by city) counts under its nearest ancestor above, and
its row says which level that is. Every figure depends on the range and the records only:
``final`` (the range ended before today in China) is the one thing that depends on the clock.
Rounding is half up, done on exact values (no binary floats reach the output).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

from sqlalchemy import BigInteger, Select, SQLColumnExpression, cast, func, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from services.intake.assessment import rollups
from services.intake.models import (
    Account,
    Application,
    ApplicationStatus,
)
from services.intake.outcomes import OUTCOME_SCHEMAS
from services.intake.scope import resolve_unit
from shared.auth import Principal
from shared.clock import CHINA
from shared.errors import FieldError, ValidationProblem
from shared.settings import Settings

MAX_DAYS = 366  # one assessment year, a leap year included
OUTCOME_KINDS = tuple(OUTCOME_SCHEMAS)
SOCIAL_TRAINING = "social_training"
DECIDED = (ApplicationStatus.APPROVED, ApplicationStatus.REJECTED)
INDICATORS = (
    "accounts_opened",
    "deposits",
    "social_training_records",
    "social_training_hours",
    "decided",
    "rejected",
    "turnaround_median_hours",
    "turnaround_p90_hours",
    "rejection_rate",
)
DEFAULT_WEIGHTS: str = Settings.assessment_weights
WEIGHTS_SETTING = "assessment_weights (CB_ASSESSMENT_WEIGHTS)"

# The tree's levels from the top: a unit's code says its level (ZJ, B01, S001, AP000001).
RANKS = {"province": 0, "branch": 1, "city": 1, "subcentre": 2, "county": 2, "point": 3}
LEVELS = tuple(RANKS)
UNIT_WORDS = ("province", "branch", "subcentre", "point")
AREA_WORDS = ("province", "city", "county", "point")
# Where a path segment of each rank begins; a group's path ends before the first segment
# deeper than its rank.
MARKERS = {1: "/B", 2: "/S", 3: "/AP"}
CODE_PREFIXES = (("AP", 3), ("S", 2), ("B", 1))

US_PER_HOUR = 3_600_000_000
PERCENTILES = {
    "turnaround_median_hours": Fraction(1, 2),
    "turnaround_p90_hours": Fraction(9, 10),
}


def code_rank(code: str) -> int:
    """The level (0 = the provincial centre .. 3 = an acceptance point) a unit code names."""
    return next((rank for prefix, rank in CODE_PREFIXES if code.startswith(prefix)), 0)


def _deeper_markers(rank: int) -> list[str]:
    return [marker for r, marker in MARKERS.items() if r > rank]


def group_key(path: SQLColumnExpression[str], rank: int) -> SQLColumnExpression[str]:
    """The path of ``path``'s ancestor at ``rank``, or of its nearest ancestor above, in
    plain SQL string functions: grouping a million rows costs little more than reading them
    (a regular expression costs five times as much)."""
    cuts = [func.nullif(func.strpos(path, marker), 0) for marker in _deeper_markers(rank)]
    if not cuts:
        return path
    return func.left(path, func.coalesce(func.least(*cuts), func.length(path)))


@dataclass(frozen=True)
class Row:
    unit_code: str
    level: str
    path: str
    accounts_opened: int = 0
    deposits: int = 0
    deposits_by_kind: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(OUTCOME_KINDS, 0)
    )
    social_training_records: int = 0
    social_training_hours: Decimal = Decimal("0.00")
    decided: int = 0
    rejected: int = 0
    turnaround_median_hours: Decimal | None = None
    turnaround_p90_hours: Decimal | None = None
    rejection_rate: Decimal | None = None
    score: Decimal = Decimal("0.00")


@dataclass(frozen=True)
class Report:
    date_from: date
    date_to: date
    by: str
    unit_code: str
    unit_path: str
    final: bool
    weights: dict[str, Decimal]
    rows: list[Row]


def parse_weights(spec: str) -> dict[str, Decimal]:
    """``"accounts_opened=1,rejection_rate=-10"``: a weight per indicator (unnamed: 0).
    Raises ValueError naming the indicator at fault, so a bad setting stops start-up."""
    weights = dict.fromkeys(INDICATORS, Decimal(0))
    named: set[str] = set()
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, value = (s.strip() for s in part.partition("="))
        if name not in weights:
            raise ValueError(
                f"{WEIGHTS_SETTING}: unknown indicator {name!r} in {part!r};"
                f" known: {', '.join(INDICATORS)}"
            )
        if name in named:
            raise ValueError(f"{WEIGHTS_SETTING}: indicator {name!r} is weighted twice")
        weights[name] = _weight(name, value)
        named.add(name)
    return weights


def _weight(name: str, value: str) -> Decimal:
    try:
        weight = Decimal(value)
    except ArithmeticError:
        weight = Decimal("NaN")
    if not weight.is_finite():
        raise ValueError(f"{WEIGHTS_SETTING}: the weight of {name} ({value!r}) is not a number")
    return weight


def figures(
    session: Session,
    principal: Principal,
    unit_code: str | None,
    date_from: date,
    date_to: date,
    by: str,
    weights: Mapping[str, Decimal] | None = None,
    today: date | None = None,
) -> Report:
    """The figures of ``unit_code`` (default: the caller's unit) grouped at level ``by``,
    each row scored with ``weights`` (default: ``DEFAULT_WEIGHTS``).

    404 for a unit outside the caller's subtree (or one intake holds no record of); 422
    naming ``by`` when it is above the unit, ``to`` when the range is reversed or too long.
    """
    check_range(date_from, date_to)
    rank = check_level(by, unit_code or principal.unit_code)
    code, path = resolve_unit(session, principal, unit_code)
    weights = dict(weights) if weights is not None else parse_weights(DEFAULT_WEIGHTS)
    scope = Scope(path, rank, *utc_bounds(date_from, date_to), date_from, date_to)
    words = AREA_WORDS if by in ("city", "county") else UNIT_WORDS
    rows = _rows(session, scope, words)
    if rank == code_rank(code) and not any(r.path == path for r in rows):
        rows.append(Row(code, words[rank], path))  # the unit itself, with nothing counted
    rows = sorted((scored(r, weights) for r in rows), key=lambda r: r.path)
    today = today or datetime.now(CHINA).date()
    return Report(date_from, date_to, by, code, path, date_to < today, weights, rows)


def check_range(date_from: date, date_to: date) -> None:
    if date_to < date_from:
        raise ValidationProblem("the range is reversed", [_query_error("to", "is before from")])
    if (date_to - date_from).days + 1 > MAX_DAYS:
        reason = f"the range may cover at most {MAX_DAYS} days"
        raise ValidationProblem("the range is too long", [_query_error("to", reason)])


def check_level(by: str, code: str) -> int:
    """The rank of ``by``, which must be the unit's own level or one below it (a code
    names its level, so this tells nothing about the unit's existence)."""
    if by not in RANKS:
        raise ValidationProblem("unknown level", [_query_error("by", f"one of {LEVELS}")])
    if RANKS[by] < code_rank(code):
        reason = f"{by} is above unit {code}; group by its own level or one below it"
        raise ValidationProblem("cannot group above the unit", [_query_error("by", reason)])
    return RANKS[by]


def _query_error(name: str, reason: str) -> FieldError:
    return FieldError(name, reason, "query")


def utc_bounds(date_from: date, date_to: date) -> tuple[datetime, datetime]:
    """[date_from 00:00, date_to + 1 day 00:00) in China time, as UTC instants."""
    start = datetime.combine(date_from, time(0), CHINA)
    end = datetime.combine(date_to + timedelta(days=1), time(0), CHINA)
    return start.astimezone(UTC), end.astimezone(UTC)


@dataclass(frozen=True)
class Scope:
    path: str  # everything at or below it
    rank: int  # the level the rows are grouped at
    start: datetime
    end: datetime
    first_day: date
    last_day: date

    def within(self, path: SQLColumnExpression[str], at: SQLColumnExpression[Any]) -> list[Any]:
        return [path.like(f"{self.path}%"), at >= self.start, at < self.end]


def _rows(session: Session, scope: Scope, words: tuple[str, ...]) -> list[Row]:
    values: dict[str, dict[str, Any]] = {}

    def row(path: str) -> dict[str, Any]:
        return values.setdefault(path, {"deposits_by_kind": dict.fromkeys(OUTCOME_KINDS, 0)})

    for path, opened in session.execute(_accounts_query(scope)):
        row(path)["accounts_opened"] = opened
    for path, kind, entries, hours in session.execute(_ledger_query(scope)):
        target = row(path)
        target["deposits_by_kind"][kind] = entries
        target["deposits"] = target.get("deposits", 0) + entries
        if kind == SOCIAL_TRAINING:
            target.update(social_training_records=entries, social_training_hours=hours)
    for path, decided, rejected, *nearest in session.execute(_decisions_query(scope)):
        target = row(path)
        target.update(decided=decided, rejected=rejected, **_turnarounds(decided, nearest))
        target["rejection_rate"] = round_half_up(Fraction(rejected, decided), 4)
    return [
        Row(_code(path), words[code_rank(_code(path))], path, **v) for path, v in values.items()
    ]


def _accounts_query(scope: Scope) -> Select[Any]:
    sub = (
        select(group_key(Account.unit_path, scope.rank).label("g"))
        .where(*scope.within(Account.unit_path, Account.opened_at))
        .subquery()
    )
    return select(sub.c.g, func.count()).group_by(sub.c.g)


def _ledger_query(scope: Scope) -> Select[Any]:
    """The deposits by group and outcome kind, summed from the ledger's roll-ups (see
    ``rollups``): the same figures as counting the entries, at twelve rows a point a year."""
    totals = rollups.ledger_totals(scope.path, scope.first_day, scope.last_day)
    sub = select(
        group_key(totals.c.unit_path, scope.rank).label("g"),
        totals.c.outcome_kind,
        totals.c.entries,
        totals.c.hours,
    ).subquery()
    kind = sub.c.outcome_kind
    return select(sub.c.g, kind, rollups.summed(sub.c.entries), func.sum(sub.c.hours)).group_by(
        sub.c.g, kind
    )


def _durations(scope: Scope) -> Any:
    """(g, us, status) of every application decided in scope: its group, and its turnaround
    in whole microseconds. ``date_part`` divides the exact count by 10**6 once, so the
    product rounds back to it; it costs a fifth of what numeric ``extract`` does."""
    seconds = func.date_part("epoch", Application.final_at - Application.created_at)
    us = cast(func.round(seconds * 1_000_000), BigInteger)
    return (
        select(
            group_key(Application.unit_path, scope.rank).label("g"),
            us.label("us"),
            Application.status,
        )
        .where(
            *scope.within(Application.unit_path, Application.final_at),
            Application.status.in_(DECIDED),
        )
        .subquery()
    )


def _decisions_query(scope: Scope) -> Select[Any]:
    """Per group: decided, rejected, and for each percentile the two values it lies between
    (0-based positions floor and ceil of q x (n - 1), in integers), picked from the group's
    sorted turnarounds; the interpolation is done exactly in Python. (percentile_cont would
    interpolate in binary floating point, and is no faster here.)"""
    sub = _durations(scope)
    groups = (
        select(
            sub.c.g,
            func.count().label("n"),
            func.count().filter(sub.c.status == ApplicationStatus.REJECTED).label("rejected"),
            func.array_agg(aggregate_order_by(sub.c.us, sub.c.us)).label("sorted"),
        )
        .group_by(sub.c.g)
        .subquery()
    )
    last = groups.c.n - 1
    nearest = []
    for q in PERCENTILES.values():
        scaled = last * q.numerator
        nearest += [scaled // q.denominator, (scaled + q.denominator - 1) // q.denominator]
    return select(
        groups.c.g,
        groups.c.n,
        groups.c.rejected,
        *(groups.c.sorted[position + 1] for position in nearest),  # arrays count from 1
    )


def _turnarounds(n: int, nearest: Sequence[int]) -> dict[str, Decimal]:
    """The median and p90 in hours from the values around each (see ``_decisions_query``),
    interpolated in whole numbers: q = a / b puts the value (a x (n - 1) mod b) / b of the
    way from the one below to the one above."""
    hours = {}
    pairs = zip(nearest[::2], nearest[1::2], strict=True)
    for (name, q), (below, above) in zip(PERCENTILES.items(), pairs, strict=True):
        share = q.numerator * (n - 1) % q.denominator
        in_parts = below * q.denominator + share * (above - below)
        hours[name] = round_half_up(Fraction(in_parts, q.denominator * US_PER_HOUR), 2)
    return hours


def round_half_up(value: Fraction, places: int) -> Decimal:
    """``value`` to ``places`` decimals, halves away from zero, from the exact value."""
    scaled, whole = abs(value.numerator) * 10**places, value.denominator
    digits = (2 * scaled + whole) // (2 * whole)  # floor(scaled / whole + 1/2)
    return Decimal(-digits if value < 0 else digits).scaleb(-places)


def _code(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def scored(row: Row, weights: Mapping[str, Decimal]) -> Row:
    """The row with its score: Σ weight × indicator as shown (nulls count 0), 2 decimals."""
    with localcontext(prec=60):
        total = sum(
            (
                weights.get(name, Decimal(0)) * Decimal(getattr(row, name) or 0)
                for name in INDICATORS
            ),
            Decimal(0),
        )
    return replace(row, score=round_half_up(Fraction(total), 2))
