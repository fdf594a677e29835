"""The audit record: every state change, who and when; the database refuses edits."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from services.org.context import db
from tests.factories import World


def test_each_step_is_recorded_with_actor_and_request_id(world: World) -> None:
    code, admin = world.operating_point("S001")
    branch = world.staff("B01", ["admin"], "b01-admin")
    r = world.client.get(
        f"/api/v1/audit?unit_code={code}&per_page=100", headers=branch.headers, environ_base={}
    )
    assert r.status_code == 200
    records = list(reversed(r.json["items"]))
    actions = [a["action"] for a in records]
    assert actions[:3] == ["point.listed", "point.allocated", "point.activated"]
    assert actions[-1] == "point.operating"
    assert all(a["request_id"] for a in records)
    assert records[-1]["actor_username"] == admin.username
    assert all("activation_code" not in str(a["detail"]) for a in records)


def test_audit_visible_only_within_scope(world: World) -> None:
    world.operating_point("S001")
    mine = world.staff("S001", ["admin"], "s001-admin")
    assert world.client.get("/api/v1/audit", headers=mine.headers).json["total"] > 0
    other = world.staff("S002", ["admin"], "s002-admin")
    r = world.client.get("/api/v1/audit", headers=other.headers)
    assert r.status_code == 200 and r.json["total"] == 0


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_records SET action = 'x'",
        "DELETE FROM audit_records",
    ],
)
def test_database_refuses_to_change_the_record(world: World, statement: str) -> None:
    world.listed_point()
    with pytest.raises(DBAPIError, match="append-only"), db.transaction() as session:
        session.execute(text(statement))
