"""The organisation tree: loading the real units, and reading the tree within a scope."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from services.org.models import Unit
from shared.auth import Principal
from shared.errors import NotFound
from shared.levels import Level

DATA_DIR = Path(__file__).parent / "data"
PROVINCE_CODE = "ZJ"
PROVINCE_NAME = "浙江省终身教育学分银行省中心"


@dataclass(frozen=True)
class UnitSpec:
    code: str
    level: Level
    name: str
    parent_code: str | None
    path: str
    seq: int | None = None
    city: str | None = None
    county: str | None = None
    host_institution: str | None = None


def branch_code(seq: int) -> str:
    return f"B{seq:02d}"


def subcentre_code(seq: int) -> str:
    return f"S{seq:03d}"


def _read(path: Path) -> Iterator[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        yield from csv.DictReader(fh)


def tree_specs(data_dir: Path = DATA_DIR) -> list[UnitSpec]:
    """The provincial centre, branches and sub-centres as the source document lists them."""
    root = UnitSpec(PROVINCE_CODE, Level.PROVINCE, PROVINCE_NAME, None, f"/{PROVINCE_CODE}/")
    specs, by_name = [root], {PROVINCE_NAME: root}
    for row in _read(data_dir / "branches.csv"):
        seq = int(row["seq"])
        code = branch_code(seq)
        spec = UnitSpec(
            code,
            Level.BRANCH,
            row["name"],
            root.code,
            f"{root.path}{code}/",
            seq,
            city=row["city"],
            host_institution=row["host_institution"],
        )
        specs.append(spec)
        by_name[spec.name] = spec
    for row in _read(data_dir / "subcentres.csv"):
        seq, parent = int(row["seq"]), by_name[row["parent"]]
        code = subcentre_code(seq)
        specs.append(
            UnitSpec(
                code,
                Level.SUBCENTRE,
                row["name"],
                parent.code,
                f"{parent.path}{code}/",
                seq,
                city=row["city"] or None,
                county=row["county"],
                host_institution=row["host_institution"],
            )
        )
    return specs


def load_tree(session: Session, data_dir: Path = DATA_DIR) -> dict[str, int]:
    """Create or correct the fixed part of the tree; a second run changes nothing."""
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    existing = {
        u.code: u for u in session.scalars(select(Unit).where(Unit.level != Level.ACCEPTANCE_POINT))
    }
    for spec in tree_specs(data_dir):
        values = dict(vars(spec))
        unit = existing.get(spec.code)
        if unit is None:
            session.add(Unit(**values))
            session.flush()
            counts["created"] += 1
        elif any(getattr(unit, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(unit, k, v)
            counts["updated"] += 1
        else:
            counts["unchanged"] += 1
    return counts


def get_visible(session: Session, principal: Principal, code: str) -> Unit:
    """The unit ``code`` if it lies in the caller's subtree; otherwise 404, so that the
    existence of units outside the caller's scope does not leak."""
    unit = session.get(Unit, code)
    if unit is None or not principal.covers(unit.path):
        raise NotFound(f"unit {code} not found")
    return unit


def visible_filter(session: Session, principal: Principal, code: str | None) -> None:
    """A list filter naming a unit: 404 when it lies outside the caller's subtree, as the
    unit itself would be, never an empty list that hides the mistake."""
    if code is not None:
        get_visible(session, principal, code)


# What a unit listing shows: plain columns, not ORM entities, so a page of units costs
# about half as much to load (see bench/org_scope.py).
LISTED_COLUMNS: tuple[Any, ...] = (
    Unit.code,
    Unit.level,
    Unit.name,
    Unit.host_institution,
    Unit.city,
    Unit.county,
    Unit.parent_code,
    Unit.path,
    Unit.state,
    Unit.point_kind,
    Unit.point_tier,
    Unit.address,
    Unit.window_address,
    Unit.window_hours,
)


def under(path: str) -> Any:
    """``Unit.path`` lies at or below ``path``; paths hold only [A-Z0-9/], so a plain LIKE
    prefix is safe, and with the column's "C" collation it uses the unique index on path."""
    return Unit.path.like(f"{path}%")


def units_query(
    principal: Principal,
    level: Level | None = None,
    parent: str | None = None,
    q: str | None = None,
    state: str | None = None,
    codes: tuple[str, ...] | None = None,
) -> Select[Any]:
    """Units in the caller's subtree, filtered, in path order (rows of ``LISTED_COLUMNS``)."""
    return _units_query(principal.unit_path, level, parent, q, state, codes)


@lru_cache(maxsize=2048)
def _units_query(
    path: str,
    level: Level | None,
    parent: str | None,
    q: str | None,
    state: str | None,
    codes: tuple[str, ...] | None,
) -> Select[Any]:
    # Statements are immutable, and building one costs a third of a millisecond: keep them.
    query = select(*LISTED_COLUMNS).where(under(path))
    if level is not None:
        query = query.where(Unit.level == level)
    if parent is not None:
        query = query.where(Unit.parent_code == parent)
    if q:
        query = query.where(Unit.name.contains(q, autoescape=True))
    if state is not None:
        query = query.where(Unit.state == state)
    if codes:
        query = query.where(Unit.code.in_(codes))
    return query.order_by(Unit.path)


def ancestors(session: Session, unit: Unit) -> list[Unit]:
    """The unit's ancestors from the provincial centre down (the unit itself excluded)."""
    codes = unit.path.strip("/").split("/")[:-1]
    found = {u.code: u for u in session.scalars(select(Unit).where(Unit.code.in_(codes)))}
    return [found[c] for c in codes]
