"""How far an application climbs, and which unit decides at each level.

The responsible unit at a level is the ancestor of the submitting acceptance point at that
level, read from its materialised path (``/ZJ/B01/S001/AP000001/``). A sub-centre with no
branch above it (90-92 sit under the provincial centre) skips the branch level.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from services.review.models import Route
from shared.auth import Principal
from shared.errors import FieldError, Forbidden, NotFound, ValidationProblem
from shared.levels import LEVEL_ORDER, Level

# (kind, outcome kind) -> the last level; None as outcome kind applies to the whole kind.
DEFAULT_ROUTES: tuple[tuple[str, str | None, Level, Decimal | None], ...] = (
    ("account_opening", None, Level.ACCEPTANCE_POINT, None),
    ("deposit", "social_training", Level.SUBCENTRE, None),
    ("deposit", "competition_award", Level.SUBCENTRE, None),
    ("deposit", "skill_certificate", Level.SUBCENTRE, None),
    ("deposit", "other", Level.SUBCENTRE, None),
    ("deposit", "academic_credit", Level.BRANCH, Decimal("10")),
    ("deposit", "vocational_certificate", Level.BRANCH, Decimal("10")),
    ("conversion", None, Level.BRANCH, Decimal("10")),
    ("certificate", None, Level.SUBCENTRE, None),
    ("import", "social_training", Level.SUBCENTRE, None),
)
PREFIX = {Level.SUBCENTRE: "S", Level.BRANCH: "B", Level.PROVINCE: "Z"}


@dataclass(frozen=True)
class Unit:
    code: str
    path: str


def responsible_unit(point_path: str, level: Level) -> Unit | None:
    """The unit deciding at ``level`` for a point at ``point_path``; None if there is none."""
    codes = point_path.strip("/").split("/")
    if level == Level.ACCEPTANCE_POINT:
        index = len(codes) - 1
    else:
        found = [i for i, c in enumerate(codes) if c.startswith(PREFIX[level])]
        if not found:
            return None
        index = found[0]
    return Unit(codes[index], "/" + "/".join(codes[: index + 1]) + "/")


def seed_routes(session: Session) -> int:
    """Write the default route table as version 1 if there is no route table yet."""
    if session.scalar(select(func.count()).select_from(Route)):
        return 0
    for kind, outcome_kind, top, over in DEFAULT_ROUTES:
        session.add(
            Route(
                version=1,
                kind=kind,
                outcome_kind=outcome_kind,
                top_level=top,
                escalate_over_credits=over,
            )
        )
    return len(DEFAULT_ROUTES)


def current_version(session: Session) -> int:
    return int(session.scalar(select(func.max(Route.version))) or 0)


def top_level(
    session: Session,
    version: int,
    kind: str,
    outcome_kind: str | None,
    credits: Decimal | None,
    expert: bool = False,
) -> Level:
    """The last level for this application under route table ``version``; an expert
    judgement (a conversion outside any rule) climbs one level above it."""
    routes = session.scalars(select(Route).where(Route.version == version, Route.kind == kind))
    by_outcome = {r.outcome_kind: r for r in routes}
    route = by_outcome.get(outcome_kind) or by_outcome.get(None)
    if route is None:
        return Level.PROVINCE  # an unknown kind climbs all the way: the safe default
    top = route.top_level
    over = route.escalate_over_credits
    if over is not None and credits is not None and credits > over:
        top = _above(top)
    return _above(top) if expert else top


def _above(level: Level) -> Level:
    return level if level == Level.PROVINCE else LEVEL_ORDER[LEVEL_ORDER.index(level) + 1]


def next_level(point_path: str, level: Level, top: Level) -> Level | None:
    """The level above ``level`` that has a unit for this point, up to ``top``; None at the end."""
    for candidate in LEVEL_ORDER[LEVEL_ORDER.index(level) + 1 : LEVEL_ORDER.index(top) + 1]:
        if responsible_unit(point_path, candidate) is not None:
            return candidate
    return None


def routes_of(session: Session, version: int | None = None) -> tuple[int, list[Route]]:
    """The route table of ``version`` (the current one by default), in a stable order."""
    version = version or current_version(session)
    routes = session.scalars(
        select(Route)
        .where(Route.version == version)
        .order_by(Route.kind, Route.outcome_kind.nulls_first())
    ).all()
    if not routes:
        raise NotFound(f"route table version {version} not found")
    return version, list(routes)


def replace_routes(session: Session, principal: Principal, rows: list[dict[str, Any]]) -> int:
    """A new version of the whole route table; cases already open keep the version they
    were opened under. Only the provincial centre's administrators may do this."""
    if principal.unit_level != Level.PROVINCE.value or not principal.has_any("admin"):
        raise Forbidden("only the provincial centre's administrators edit the route table")
    seen: dict[tuple[str, str | None], int] = {}
    errors = []
    for i, row in enumerate(rows):
        key = (row["kind"], row.get("outcome_kind"))
        if key in seen:
            errors.append(
                FieldError(f"routes.{i}", f"repeats routes.{seen[key]} ({key[0]}, {key[1]})")
            )
        seen[key] = i
    if errors:
        raise ValidationProblem("each kind and outcome kind may appear once", errors)
    # Serialise editors: two saves at once would otherwise both take the same new version.
    session.execute(text("LOCK TABLE routes IN SHARE ROW EXCLUSIVE MODE"))
    version = current_version(session) + 1
    for row in rows:
        session.add(
            Route(
                version=version,
                kind=row["kind"],
                outcome_kind=row.get("outcome_kind"),
                top_level=Level(row["top_level"]),
                escalate_over_credits=row.get("escalate_over_credits"),
                created_by_id=principal.staff_id,
            )
        )
    return version
