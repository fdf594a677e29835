"""Every request is scoped to the caller's subtree; outside it, units do not exist (404)."""

from __future__ import annotations

from sqlalchemy import func, select, update

from services.org.context import db
from services.org.models import Staff, Unit
from shared.levels import Level
from tests.factories import PASSWORD, World


def points() -> list[str]:
    with db.transaction() as session:
        return list(session.scalars(select(Unit.code).where(Unit.level == Level.ACCEPTANCE_POINT)))


def unit_state(code: str) -> str:
    with db.transaction() as session:
        unit = session.get(Unit, code)
        assert unit is not None
        return unit.state.value


def staff_named(username: str) -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.count()).where(Staff.username == username)) or 0)


def test_subcentre_never_sees_another_subcentres_points(world: World) -> None:
    mine = world.listed_point("S001", "甲社区学校")
    theirs = world.listed_point("S002", "乙社区学校")
    s001 = world.staff("S001", ["admin"], "s001-admin")
    assert world.client.get(f"/api/v1/units/{mine}", headers=s001.headers).status_code == 200
    r = world.client.get(f"/api/v1/units/{theirs}", headers=s001.headers)
    assert r.status_code == 404 and r.json["detail"] == f"unit {theirs} not found"
    assert (
        world.client.get(f"/api/v1/units/{theirs}/ancestors", headers=s001.headers).status_code
        == 404
    )
    r = world.client.get("/api/v1/units?level=acceptance_point", headers=s001.headers)
    assert [u["code"] for u in r.json["items"]] == [mine]
    r = world.client.post(
        f"/api/v1/acceptance-points/{theirs}/suspend", headers=s001.headers, json={"reason": "x"}
    )
    assert r.status_code == 404
    assert unit_state(theirs) == "LISTED"  # nothing done to it either


def test_branch_sees_its_city_and_province_sees_everything(world: World) -> None:
    world.listed_point("S001")
    world.listed_point("S014")  # 宁波
    branch = world.staff("B01", ["admin"], "b01-admin")
    r = world.client.get("/api/v1/units?level=subcentre&per_page=100", headers=branch.headers)
    assert r.json["total"] == 13
    assert all(u["path"].startswith("/ZJ/B01/") for u in r.json["items"])
    r = world.client.get("/api/v1/units?level=acceptance_point", headers=branch.headers)
    assert r.json["total"] == 1
    admin = world.admin()
    r = world.client.get("/api/v1/units?level=acceptance_point", headers=admin.headers)
    assert r.json["total"] == 2


def test_units_are_listed_by_parent(world: World) -> None:
    admin = world.admin()
    r = world.client.get("/api/v1/units?parent=ZJ&per_page=100", headers=admin.headers)
    assert r.json["total"] == 14  # 11 branches and sub-centres 90-92


def test_units_are_searched_by_name(world: World) -> None:
    admin = world.admin()
    r = world.client.get("/api/v1/units?q=舟山&level=branch", headers=admin.headers)
    assert [u["code"] for u in r.json["items"]] == ["B09"]


def test_pagination_pages_through_everything(world: World) -> None:
    admin = world.admin()
    seen, page = [], 1
    while True:
        r = world.client.get(
            f"/api/v1/units?level=subcentre&per_page=40&page={page}", headers=admin.headers
        )
        seen += [u["code"] for u in r.json["items"]]
        if page * 40 >= r.json["total"]:
            break
        page += 1
    assert len(seen) == len(set(seen)) == 92


def test_bureau_lists_only_within_its_area(world: World) -> None:
    city = world.staff("B01", ["bureau"], "hz-bureau")
    county = world.staff("S001", ["bureau"], "sc-bureau")
    body = {"name": "某社区学校", "point_kind": "community_school", "point_tier": "township"}
    assert (
        world.client.post(
            "/api/v1/acceptance-points", headers=city.headers, json={**body, "parent_code": "S002"}
        ).status_code
        == 201
    )
    assert (
        world.client.post(
            "/api/v1/acceptance-points", headers=city.headers, json={**body, "parent_code": "B01"}
        ).status_code
        == 201
    )
    assert (
        world.client.post(
            "/api/v1/acceptance-points",
            headers=county.headers,
            json={**body, "parent_code": "S002"},
        ).status_code
        == 404
    )
    assert (
        world.client.post(
            "/api/v1/acceptance-points", headers=city.headers, json={**body, "parent_code": "S014"}
        ).status_code
        == 404
    )
    assert len(points()) == 2  # the two within the area, nothing else


def test_only_a_bureau_lists_points(world: World) -> None:
    body = {"name": "某社区学校", "point_kind": "community_school", "point_tier": "township"}
    reviewer = world.staff("S001", ["reviewer"], "sc-reviewer")
    assert (
        world.client.post(
            "/api/v1/acceptance-points",
            headers=reviewer.headers,
            json={**body, "parent_code": "S001"},
        ).status_code
        == 403
    )
    assert points() == []
    bureau = world.staff("S001", ["bureau"], "sc-bureau")
    r = world.client.post(
        "/api/v1/acceptance-points", headers=bureau.headers, json={**body, "parent_code": "S001"}
    )
    assert r.status_code == 201 and points() == [r.json["code"]]


def test_admin_creates_staff_only_in_its_subtree(world: World) -> None:
    branch = world.staff("B01", ["admin"], "b01-admin")
    body = {"display_name": "复审员", "roles": ["reviewer"], "password": PASSWORD}
    r = world.client.post(
        "/api/v1/staff",
        headers=branch.headers,
        json={**body, "username": "s001-rev", "unit_code": "S001"},
    )
    assert r.status_code == 201 and r.json["unit_code"] == "S001"
    r = world.client.post(
        "/api/v1/staff",
        headers=branch.headers,
        json={**body, "username": "s014-rev", "unit_code": "S014"},
    )
    assert r.status_code == 404


def test_the_staff_list_holds_the_callers_subtree_only(world: World) -> None:
    branch = world.staff("B01", ["admin"], "b01-admin")
    world.staff("S001", ["reviewer"], "s001-rev")
    world.staff("S014", ["reviewer"], "s014-rev")
    r = world.client.get("/api/v1/staff", headers=branch.headers)
    assert {s["username"] for s in r.json["items"]} == {"b01-admin", "s001-rev"}


def test_only_an_admin_creates_staff(world: World) -> None:
    body = {"display_name": "复审员", "roles": ["reviewer"], "password": PASSWORD}
    manager = world.staff("B01", ["management"], "b01-mgr")
    r = world.client.post(
        "/api/v1/staff",
        headers=manager.headers,
        json={**body, "username": "s001-rev2", "unit_code": "S001"},
    )
    assert r.status_code == 403
    assert staff_named("s001-rev2") == 0
    admin = world.staff("B01", ["admin"], "b01-admin")
    r = world.client.post(
        "/api/v1/staff",
        headers=admin.headers,
        json={**body, "username": "s001-rev2", "unit_code": "S001"},
    )
    assert r.status_code == 201 and staff_named("s001-rev2") == 1


def test_staff_are_found_by_part_of_their_username_or_name(world: World) -> None:
    admin = world.staff("S001", ["admin"], "s001-admin")
    world.staff("S001", ["reviewer"], "s001-wang-rev")
    world.staff("S002", ["reviewer"], "s002-wang-rev")
    with db.transaction() as session:
        session.execute(
            update(Staff).where(Staff.username == "s001-admin").values(display_name="李%芳")
        )

    def found(query: str) -> set[str]:
        r = world.client.get(f"/api/v1/staff?{query}", headers=admin.headers)
        assert r.status_code == 200, r.json
        return {s["username"] for s in r.json["items"]}

    assert found("q=WANG") == {"s001-wang-rev"}  # S002's namesake lies outside the subtree
    assert found("q=%25") == {"s001-admin"}  # a wildcard is a character like any other
    assert found("q=wang&unit_code=S001") == {"s001-wang-rev"}
    assert found("q=nobody") == set()


def test_compliance_lists_points_lacking_window_or_roles(world: World) -> None:
    ok, _ = world.operating_point("S001")
    lacking, admin = world.active_point("S001")
    world.client.post(
        "/api/v1/staff",
        headers=admin.headers,
        json={
            "username": "lack-svc",
            "display_name": "x",
            "unit_code": lacking,
            "roles": ["service"],
            "password": PASSWORD,
        },
    )
    other = world.listed_point("S014")
    branch = world.staff("B01", ["admin"], "b01-admin")
    r = world.client.get("/api/v1/units/B01/compliance", headers=branch.headers)
    assert r.status_code == 200
    items = {i["code"]: i for i in r.json["items"]}
    assert ok not in items and other not in items
    assert items[lacking]["window"] is False and items[lacking]["service"] is True
    assert items[lacking]["management"] is False and items[lacking]["technical"] is False
    assert (
        world.client.get("/api/v1/units/S014/compliance", headers=branch.headers).status_code == 404
    )


def test_a_list_filter_naming_a_unit_outside_the_subtree_is_404(world: World) -> None:
    theirs = world.listed_point("S002", "乙社区学校")
    mine = world.listed_point("S001", "甲社区学校")
    s001 = world.staff("S001", ["admin"], "s001-admin")
    for path in (
        f"/api/v1/units?parent={theirs}",
        "/api/v1/units?parent=S002",
        "/api/v1/staff?unit_code=S002",
        f"/api/v1/audit?unit_code={theirs}",
    ):
        r = world.client.get(path, headers=s001.headers)
        assert r.status_code == 404, (path, r.json)
    # The same filters within the subtree answer as before.
    assert world.client.get("/api/v1/units?parent=S001", headers=s001.headers).json["total"] == 1
    r = world.client.get(f"/api/v1/audit?unit_code={mine}", headers=s001.headers)
    assert r.status_code == 200 and r.json["total"] >= 1
    r = world.client.get("/api/v1/staff?unit_code=S001", headers=s001.headers)
    assert {s["unit_code"] for s in r.json["items"]} == {"S001"} and r.json["total"] == 2


def test_units_named_by_their_codes_only_within_the_subtree(world: World) -> None:
    """A page listing codes (the backlog, the assessment) asks their names at once; a code
    outside the caller's subtree is simply not among them, as one that does not exist."""
    mine = world.listed_point("S001", "甲社区学校")
    theirs = world.listed_point("S002", "乙社区学校")
    s001 = world.staff("S001", ["admin"], "s001-admin")
    r = world.client.get(f"/api/v1/units?code={mine},S001,{theirs},S999", headers=s001.headers)
    assert r.status_code == 200, r.json
    assert {u["code"]: u["name"] for u in r.json["items"]} == {
        "S001": "浙江学分银行杭州市上城区分中心",
        mine: "甲社区学校",
    }
    r = world.client.get("/api/v1/units?code=nonsense", headers=s001.headers)
    assert r.status_code == 422 and r.json["errors"][0]["field"] == "code.0"
    many = ",".join(f"AP{n:06d}" for n in range(101))
    assert world.client.get(f"/api/v1/units?code={many}", headers=s001.headers).status_code == 422
