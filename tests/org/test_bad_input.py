"""Bad input: a clear error naming the field and the reason, and nothing half-written."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from services.org.context import db
from services.org.models import AuditRecord, Outbox, Staff, Unit
from tests.factories import PASSWORD, World


def counts() -> tuple[int, ...]:
    with db.transaction() as session:
        return tuple(
            session.scalar(select(func.count()).select_from(m)) or 0
            for m in (Unit, Staff, AuditRecord, Outbox)
        )


def fields_of(response) -> dict[str, str]:
    assert response.headers["Content-Type"] == "application/problem+json"
    return {e["field"]: e["reason"] for e in response.json["errors"]}


@pytest.fixture
def bureau(world: World):
    return world.staff("S001", ["bureau"], "bureau")


GOOD = {
    "name": "社区学校",
    "parent_code": "S001",
    "point_kind": "community_school",
    "point_tier": "township",
}


def test_malformed_json_is_400(world: World, bureau) -> None:
    before = counts()
    r = world.client.post(
        "/api/v1/acceptance-points",
        headers=bureau.headers,
        data='{"name": "x",',
        content_type="application/json",
    )
    assert r.status_code == 400
    assert r.json["type"].endswith("/malformed-json")
    assert counts() == before


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({**GOOD, "name": 5}, "name", "Not a valid string."),
        ({**GOOD, "point_kind": "castle"}, "point_kind", "Must be one of"),
        ({k: v for k, v in GOOD.items() if k != "parent_code"}, "parent_code", "Missing data"),
        ({**GOOD, "colour": "red"}, "colour", "Unknown field."),
        ({**GOOD, "name": "长" * 101}, "name", "Length must be between 1 and 100."),
        ({**GOOD, "name": ""}, "name", "Length must be between 1 and 100."),
    ],
)
def test_schema_errors_name_field_and_reason(world: World, bureau, body, field, reason) -> None:
    before = counts()
    r = world.client.post("/api/v1/acceptance-points", headers=bureau.headers, json=body)
    assert r.status_code == 422
    assert reason in fields_of(r)[field]
    assert counts() == before


def test_query_string_errors_are_422(world: World, bureau) -> None:
    r = world.client.get("/api/v1/units?per_page=1000", headers=bureau.headers)
    assert r.status_code == 422 and fields_of(r)["per_page"]
    assert r.json["errors"][0]["location"] == "query"
    r = world.client.get("/api/v1/units?level=planet", headers=bureau.headers)
    assert r.status_code == 422 and "level" in fields_of(r)


def test_body_over_the_limit_is_413(world: World, bureau) -> None:
    before = counts()
    r = world.client.post(
        "/api/v1/acceptance-points/batch",
        headers=bureau.headers,
        data=b"name,parent_code\n" + b"x" * (1024 * 1024 + 1),
        content_type="text/csv",
    )
    assert r.status_code == 413 and r.json["status"] == 413
    assert counts() == before


def test_a_duplicate_point_name_is_409(world: World, bureau) -> None:
    assert (
        world.client.post(
            "/api/v1/acceptance-points", headers=bureau.headers, json=GOOD
        ).status_code
        == 201
    )
    before = counts()
    r = world.client.post("/api/v1/acceptance-points", headers=bureau.headers, json=GOOD)
    assert r.status_code == 409 and "name" in fields_of(r)
    assert counts()[:3] == before[:3]


def test_a_duplicate_username_is_409(world: World, bureau) -> None:
    before = counts()
    admin = world.admin()
    body = {
        "username": "bureau",
        "display_name": "x",
        "unit_code": "S001",
        "roles": ["reviewer"],
        "password": PASSWORD,
    }
    r = world.client.post("/api/v1/staff", headers=admin.headers, json=body)
    assert r.status_code == 409 and fields_of(r)["username"] == "already taken"
    assert counts()[:3] == (before[0], before[1] + 1, before[2])  # only the admin was added


STAFF = {
    "username": "ok-name",
    "display_name": "x",
    "unit_code": "S001",
    "roles": ["reviewer"],
    "password": PASSWORD,
}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"password": "short"}, "password"),
        ({"username": "空 格"}, "username"),
        ({"roles": ["wizard"]}, "roles.0"),
    ],
    ids=["weak-password", "bad-username", "unknown-role"],
)
def test_staff_refusals_name_the_field(world: World, change: dict, field: str) -> None:
    admin = world.admin()
    before = counts()
    r = world.client.post("/api/v1/staff", headers=admin.headers, json={**STAFF, **change})
    assert r.status_code == 422 and field in fields_of(r)
    assert counts() == before


def test_unknown_route_and_method_use_problem_shape(world: World) -> None:
    r = world.client.get("/api/v1/nowhere")
    assert r.status_code == 404 and r.json["type"].endswith("/not-found")
    r = world.client.delete("/api/v1/auth/token")
    assert r.status_code == 405 and "POST" in r.headers["Allow"]
