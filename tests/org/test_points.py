"""The acceptance point's life cycle through the API: every step, and every wrong step."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, text, update

from services.org.context import db
from services.org.models import ActivationCode, AuditRecord, Outbox, Staff, Unit
from shared import sealing
from shared.db import utcnow
from tests.org.conftest import PASSWORD, World


def state(code: str) -> str:
    with db.transaction() as session:
        unit = session.get(Unit, code)
        assert unit is not None
        return unit.state.value


def test_listed_to_operating_step_by_step(world: World) -> None:
    code = world.listed_point("S001")
    assert state(code) == "LISTED"
    code2, admin_name, activation = world.allocated_point("S002")
    assert state(code2) == "ALLOCATED"
    r = world.client.post(
        "/api/v1/activation",
        json={"username": admin_name, "activation_code": activation, "password": PASSWORD},
    )
    assert r.status_code == 200 and r.json["state"] == "ACTIVE"
    admin = world.login(admin_name)
    r = world.client.get("/api/v1/me", headers=admin.headers)
    assert r.json["unit_code"] == code2 and r.json["roles"] == ["admin"]
    code3, _ = world.operating_point("S003")
    assert state(code3) == "OPERATING"
    actions = set(
        db.session.scalars(select(AuditRecord.action).where(AuditRecord.unit_code == code3))
    )
    assert {
        "point.listed",
        "point.allocated",
        "point.activated",
        "point.window_set",
        "staff.created",
        "point.operating",
    } <= actions


def test_steps_cannot_be_skipped(world: World) -> None:
    code = world.listed_point()
    manager = world.staff("S001", ["admin"], "s001-admin")
    r = world.client.post(f"/api/v1/acceptance-points/{code}/start", headers=manager.headers)
    assert r.status_code == 403  # not the point's own admin: refused before any state check
    code, admin = world.active_point("S002")
    r = world.client.post(f"/api/v1/acceptance-points/{code}/start", headers=admin.headers)
    assert r.status_code == 409
    assert r.json["current_state"] == "ACTIVE"
    assert r.json["missing"] == ["window", "management", "technical", "service"]
    assert state(code) == "ACTIVE"


def test_wrong_step_names_current_state(world: World) -> None:
    code, _admin_name, _ = world.allocated_point()
    manager = world.staff("S001", ["admin"], "s001-admin")
    r = world.client.post(
        f"/api/v1/acceptance-points/{code}/allocation",
        headers=manager.headers,
        json={"admin_username": "other", "admin_display_name": "x"},
    )
    assert r.status_code == 409
    assert r.json["current_state"] == "ALLOCATED"
    assert r.headers["Content-Type"] == "application/problem+json"
    code2, admin = world.operating_point("S002")
    r = world.client.post(f"/api/v1/acceptance-points/{code2}/start", headers=admin.headers)
    assert r.status_code == 409 and r.json["current_state"] == "OPERATING"


def test_activation_code_single_use_and_hashed(world: World) -> None:
    _code, admin_name, activation = world.allocated_point()
    with db.transaction() as session:
        hashes = list(session.scalars(select(ActivationCode.code_hash)))
    assert len(hashes) == 1 and activation not in hashes[0]
    body = {"username": admin_name, "activation_code": activation, "password": PASSWORD}
    assert world.client.post("/api/v1/activation", json=body).status_code == 200
    r = world.client.post("/api/v1/activation", json=body)
    assert r.status_code == 422
    assert r.json["errors"][0]["field"] == "activation_code"
    assert (
        world.client.post(
            "/api/v1/activation", json={**body, "username": "someone-else"}
        ).status_code
        == 422
    )


def test_expired_code_refused_then_reallocated(world: World) -> None:
    code, admin_name, activation = world.allocated_point()
    with db.transaction() as session:
        session.execute(update(ActivationCode).values(expires_at=utcnow() - timedelta(seconds=1)))
    r = world.client.post(
        "/api/v1/activation",
        json={"username": admin_name, "activation_code": activation, "password": PASSWORD},
    )
    assert r.status_code == 422 and "expired" in r.json["detail"]
    assert state(code) == "ALLOCATED"
    manager = world.staff("S001", ["management"], "s001-mgr2")
    r = world.client.post(
        f"/api/v1/acceptance-points/{code}/allocation",
        headers=manager.headers,
        json={"admin_username": admin_name, "admin_display_name": "管理员"},
    )
    assert r.status_code == 201
    fresh = r.json["activation_code"]
    assert fresh != activation
    r = world.client.post(
        "/api/v1/activation",
        json={"username": admin_name, "activation_code": fresh, "password": PASSWORD},
    )
    assert r.status_code == 200
    with db.transaction() as session:
        admins = session.scalars(select(Staff).where(Staff.unit_code == code)).all()
    assert len(admins) == 1 and admins[0].active


def test_activation_code_reaches_notify_sealed(world: World, var_dir) -> None:
    _code, admin_name, activation = world.allocated_point()
    with db.transaction() as session:
        rows = session.scalars(select(Outbox)).all()
    assert len(rows) == 1
    row = rows[0]
    assert row.queue == "notify" and row.task_name == "notify.deliver"
    assert activation not in str(row.payload)
    assert row.payload["event_type"] == "org.activation_code_allocated"
    assert row.payload["data"]["admin_username"] == admin_name
    private = (var_dir / "keys" / "notify_seal_private.pem").read_bytes()
    assert sealing.unseal(private, row.payload["sealed"]["activation_code"]) == activation


def test_a_bad_admin_username_is_named_as_the_allocation_names_it(world: World) -> None:
    code = world.listed_point("S001")
    manager = world.staff("S001", ["management"], "s001-mgr")
    r = world.client.post(
        f"/api/v1/acceptance-points/{code}/allocation",
        headers=manager.headers,
        json={"admin_username": "小营 admin", "admin_display_name": "管理员"},
    )
    assert r.status_code == 422
    assert [e["field"] for e in r.json["errors"]] == ["admin_username"]
    assert state(code) == "LISTED"


def test_allocation_only_by_the_points_own_superior(world: World) -> None:
    code = world.listed_point("S001")
    other = world.staff("S002", ["admin"], "s002-admin")
    branch = world.staff("B01", ["admin"], "b01-admin")
    body = {"admin_username": "x-admin", "admin_display_name": "x"}
    r = world.client.post(
        f"/api/v1/acceptance-points/{code}/allocation", headers=other.headers, json=body
    )
    assert r.status_code == 404  # outside S002's subtree: its existence does not leak
    r = world.client.post(
        f"/api/v1/acceptance-points/{code}/allocation", headers=branch.headers, json=body
    )
    assert r.status_code == 403
    assert state(code) == "LISTED"


def test_suspended_point_staff_cannot_act_until_reinstated(world: World) -> None:
    code, admin = world.operating_point("S001")
    superior = world.staff("S001", ["admin"], "s001-admin")
    r = world.client.post(
        f"/api/v1/acceptance-points/{code}/suspend",
        headers=superior.headers,
        json={"reason": "窗口无人值守"},
    )
    assert r.status_code == 200 and r.json["state"] == "SUSPENDED"
    r = world.client.get("/api/v1/me", headers=admin.headers)
    assert r.status_code == 403 and "suspended" in r.json["detail"]
    r = world.client.post(
        "/api/v1/auth/token", json={"username": admin.username, "password": PASSWORD}
    )
    assert r.status_code == 403
    r = world.client.post(
        f"/api/v1/acceptance-points/{code}/suspend",
        headers=superior.headers,
        json={"reason": "again"},
    )
    assert r.status_code == 409 and r.json["current_state"] == "SUSPENDED"
    r = world.client.post(f"/api/v1/acceptance-points/{code}/reinstate", headers=superior.headers)
    assert r.status_code == 200 and r.json["state"] == "OPERATING"
    assert world.client.get("/api/v1/me", headers=admin.headers).status_code == 200
    r = world.client.post(f"/api/v1/acceptance-points/{code}/reinstate", headers=superior.headers)
    assert r.status_code == 409 and r.json["current_state"] == "OPERATING"


def test_point_cannot_suspend_itself(world: World) -> None:
    code, admin = world.operating_point()
    r = world.client.post(
        f"/api/v1/acceptance-points/{code}/suspend", headers=admin.headers, json={"reason": "x"}
    )
    assert r.status_code == 403


def test_staff_registration_needs_active_point_and_its_roles(world: World) -> None:
    code, admin = world.active_point()
    r = world.client.post(
        "/api/v1/staff",
        headers=admin.headers,
        json={
            "username": "ap-bureau",
            "display_name": "x",
            "unit_code": code,
            "roles": ["bureau"],
            "password": PASSWORD,
        },
    )
    assert r.status_code == 422 and r.json["errors"][0]["field"] == "roles"
    r = world.client.post(
        "/api/v1/staff",
        headers=admin.headers,
        json={
            "username": "ap-sibling",
            "display_name": "x",
            "unit_code": "S001",
            "roles": ["reviewer"],
            "password": PASSWORD,
        },
    )
    assert r.status_code == 404  # the sub-centre above lies outside the point's subtree


def test_the_admins_phone_goes_sealed_to_notify_and_is_not_kept(world: World, var_dir) -> None:
    code = world.listed_point()
    manager = world.staff("S001", ["management"], "mgr-phone")
    url = f"/api/v1/acceptance-points/{code}/allocation"
    body = {"admin_username": f"{code.lower()}-admin", "admin_display_name": "管理员"}
    r = world.client.post(url, headers=manager.headers, json={**body, "admin_phone": "1381234"})
    assert r.status_code == 422 and r.json["errors"][0]["field"] == "admin_phone"
    assert state(code) == "LISTED"  # nothing half-written
    r = world.client.post(url, headers=manager.headers, json={**body, "admin_phone": "13812345678"})
    assert r.status_code == 201, r.json
    with db.transaction() as session:
        (row,) = session.scalars(select(Outbox)).all()
        dump = " ".join(
            str(v) for v in session.execute(text("SELECT staff::text FROM staff")).scalars()
        )
    assert "13812345678" not in str(row.payload) and "13812345678" not in dump
    private = (var_dir / "keys" / "notify_seal_private.pem").read_bytes()
    assert sealing.unseal(private, row.payload["sealed"]["phone"]) == "13812345678"
