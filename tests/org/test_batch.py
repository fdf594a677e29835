"""Listing acceptance points from a CSV file: good rows kept, bad rows reported exactly."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from services.org.context import db
from services.org.models import Unit
from shared.levels import Level
from tests.factories import World


def points() -> list[str]:
    with db.transaction() as session:
        return list(
            session.scalars(
                select(Unit.name).where(Unit.level == Level.ACCEPTANCE_POINT).order_by(Unit.code)
            )
        )


CSV = """name,parent_code,point_kind,point_tier,address
上城社区学校,S001,community_school,township,解放路1号
下城成人学校,S002,adult_school,county,
,S001,community_school,township,
越界学校,S014,community_school,township,
错误类型,S001,castle,township,
上城社区学校,S001,community_school,township,
培训机构,B01,training_organisation,city,
"""


def test_good_rows_kept_bad_rows_reported(world: World) -> None:
    bureau = world.staff("B01", ["bureau"], "hz-bureau")
    r = world.client.post(
        "/api/v1/acceptance-points/batch",
        headers=bureau.headers,
        data=CSV.encode(),
        content_type="text/csv",
    )
    assert r.status_code == 200
    assert [u["name"] for u in r.json["created"]] == ["上城社区学校", "下城成人学校", "培训机构"]
    errors = [(e["row"], e["field"]) for e in r.json["errors"]]
    assert errors == [(4, "name"), (5, "parent_code"), (6, "point_kind"), (7, "name")]
    assert points() == ["上城社区学校", "下城成人学校", "培训机构"]


def post_batch(world: World, data: bytes | None) -> Any:
    bureau = world.staff("B01", ["bureau"], "hz-bureau")
    if data is None:
        return world.client.post("/api/v1/acceptance-points/batch", headers=bureau.headers)
    return world.client.post(
        "/api/v1/acceptance-points/batch",
        headers=bureau.headers,
        data=data,
        content_type="text/csv",
    )


def test_a_file_with_wrong_columns_is_refused_whole_naming_them(world: World) -> None:
    r = post_batch(world, b"name,parent,kind\nx,S001,y\n")
    assert r.status_code == 422
    fields = {e["field"]: e["reason"] for e in r.json["errors"]}
    assert fields["parent_code"] == "required column is missing"
    assert fields["kind"] == "unknown column"
    assert points() == []


def test_a_file_not_in_utf8_is_refused_whole(world: World) -> None:
    r = post_batch(world, CSV.encode("gbk"))
    assert r.status_code == 422 and r.json["errors"][0]["reason"] == "not UTF-8"
    assert points() == []


def test_a_request_without_a_file_is_422(world: World) -> None:
    r = post_batch(world, None)
    assert r.status_code == 422
    assert points() == []


def test_upload_as_multipart_file(world: World) -> None:
    import io

    bureau = world.staff("S001", ["bureau"], "sc-bureau")
    data = {
        "file": (
            io.BytesIO(b"name,parent_code,point_kind,point_tier\nA,S001,other,township\n"),
            "points.csv",
        )
    }
    r = world.client.post(
        "/api/v1/acceptance-points/batch",
        headers=bureau.headers,
        data=data,
        content_type="multipart/form-data",
    )
    assert r.status_code == 200 and len(r.json["created"]) == 1
    with db.transaction() as session:
        assert (
            session.scalar(
                select(func.count()).select_from(Unit).where(Unit.level == Level.ACCEPTANCE_POINT)
            )
            == 1
        )
