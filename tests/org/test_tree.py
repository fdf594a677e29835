"""The real org tree: 1 provincial centre, 11 branches, 92 sub-centres, loaded idempotently."""

from __future__ import annotations

import csv

from sqlalchemy import func, select, text

from services.org import tree
from services.org.context import db
from services.org.models import AuditRecord, Unit
from shared.levels import Level
from tests.factories import World

DOMAIN = tree.DATA_DIR


def test_tree_matches_the_source_lists() -> None:
    with db.transaction() as session:
        units = {u.code: u for u in session.scalars(select(Unit))}
    levels = [u.level for u in units.values()]
    assert levels.count(Level.PROVINCE) == 1
    assert levels.count(Level.BRANCH) == 11
    assert levels.count(Level.SUBCENTRE) == 92
    with (DOMAIN / "subcentres.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    by_name = {u.name: u for u in units.values()}
    for row in rows:
        unit = by_name[row["name"]]
        assert unit.host_institution == row["host_institution"]
        assert by_name[row["parent"]].code == unit.parent_code
        assert unit.path == f"{by_name[row['parent']].path}{unit.code}/"
    for code in ("S090", "S091", "S092"):
        assert units[code].parent_code == "ZJ" and units[code].path == f"/ZJ/{code}/"
    assert units["B01"].host_institution == "杭州电大"


def test_second_load_changes_nothing() -> None:
    with db.transaction() as session:
        before = session.execute(select(Unit.code, Unit.updated_at)).all()
        counts = tree.load_tree(session)
    assert counts == {"created": 0, "updated": 0, "unchanged": 104}
    with db.transaction() as session:
        assert session.execute(select(Unit.code, Unit.updated_at)).all() == before
        assert session.scalar(select(func.count()).select_from(AuditRecord)) == 0


def test_load_corrects_a_drifted_unit() -> None:
    with db.transaction() as session:
        session.get(Unit, "S001").host_institution = "wrong"
    with db.transaction() as session:
        assert tree.load_tree(session)["updated"] == 1
        assert session.get(Unit, "S001").host_institution == "杭州市上城区社区学院"


def test_load_tree_command_runs_twice(org_app) -> None:
    from services.org.cli import load_tree

    runner = org_app.test_cli_runner()
    first = runner.invoke(load_tree)
    second = runner.invoke(load_tree)
    assert first.exit_code == second.exit_code == 0
    assert "0 created, 0 updated, 104 unchanged" in second.output


def test_everything_under_a_unit_is_one_indexed_query() -> None:
    with db.transaction() as session:
        session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(
            session.execute(
                text("EXPLAIN SELECT code FROM units WHERE path LIKE '/ZJ/B01/%'")
            ).scalars()
        )
    assert "uq_units_path" in plan or "ix_units_level_path" in plan


def test_ancestors_from_the_root_down(world: World) -> None:
    admin = world.admin()
    r = world.client.get("/api/v1/units/S001/ancestors", headers=admin.headers)
    assert [u["code"] for u in r.json] == ["ZJ", "B01"]
    code = world.listed_point("S001")
    r = world.client.get(f"/api/v1/units/{code}/ancestors", headers=admin.headers)
    assert [u["code"] for u in r.json] == ["ZJ", "B01", "S001"]


def test_a_unit_says_which_roles_its_staff_may_hold(world: World) -> None:
    admin = world.admin()
    code = world.listed_point("S001")
    expected = {
        "ZJ": ["admin", "management", "reviewer"],
        "B01": ["admin", "management", "reviewer", "bureau"],
        "S001": ["admin", "management", "reviewer", "bureau"],
        # a point's admin comes only from allocation
        code: ["management", "technical", "service", "reviewer"],
    }
    for unit, roles in expected.items():
        r = world.client.get(f"/api/v1/units/{unit}", headers=admin.headers)
        assert r.status_code == 200 and r.json["staff_roles"] == roles, (unit, r.json)
