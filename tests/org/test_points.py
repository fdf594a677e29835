"""The acceptance point's life cycle through the API: every step, and every wrong step."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, text, update

from services.org.context import db
from services.org.models import ActivationCode, AuditRecord, Outbox, Staff, Unit
from shared import sealing
from shared.db import utcnow
from tests.factories import PASSWORD, World


def audit_actions(code: str) -> set[str]:
    with db.transaction() as session:
        return set(session.scalars(select(AuditRecord.action).where(AuditRecord.unit_code == code)))


def staff_count() -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(Staff)) or 0)


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


def ready_point(world: World) -> tuple[str, Any]:
    """An ACTIVE point with its window and every role: all it needs to start."""
    code, admin = world.active_point("S001")
    for role in ("management", "technical", "service"):
        r = register(
            world, admin.headers, username=f"{code.lower()}-{role}", unit_code=code, roles=[role]
        )
        assert r.status_code == 201, r.json
    r = world.client.put(
        f"/api/v1/acceptance-points/{code}/window",
        headers=admin.headers,
        json={"address": "杭州市上城区解放路1号", "opening_hours": "周一至周五 9:00-17:00"},
    )
    assert r.status_code == 200, r.json
    return code, admin


def test_only_the_points_own_admin_may_start_it(world: World) -> None:
    code = world.listed_point()
    manager = world.staff("S001", ["admin"], "s001-admin")
    r = world.client.post(f"/api/v1/acceptance-points/{code}/start", headers=manager.headers)
    assert r.status_code == 403  # not the point's own admin: refused before any state check
    assert state(code) == "LISTED"
    # A point ready to start: its superior still may not; its own admin does.
    ready, admin = ready_point(world)
    r = world.client.post(f"/api/v1/acceptance-points/{ready}/start", headers=manager.headers)
    assert r.status_code == 403 and state(ready) == "ACTIVE"
    r = world.client.post(f"/api/v1/acceptance-points/{ready}/start", headers=admin.headers)
    assert r.status_code == 200 and state(ready) == "OPERATING"


def test_a_point_cannot_start_before_it_has_a_window_and_every_role(world: World) -> None:
    code, admin = world.active_point("S002")
    r = world.client.post(f"/api/v1/acceptance-points/{code}/start", headers=admin.headers)
    assert r.status_code == 409
    assert r.json["current_state"] == "ACTIVE"
    assert r.json["missing"] == ["window", "management", "technical", "service"]
    assert state(code) == "ACTIVE"


def test_allocating_an_allocated_point_is_409_naming_its_state(world: World) -> None:
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


def test_starting_an_operating_point_is_409_naming_its_state(world: World) -> None:
    code2, admin = world.operating_point("S002")
    r = world.client.post(f"/api/v1/acceptance-points/{code2}/start", headers=admin.headers)
    assert r.status_code == 409 and r.json["current_state"] == "OPERATING"


def test_activation_code_is_kept_only_as_a_hash(world: World) -> None:
    _code, _admin_name, activation = world.allocated_point()
    with db.transaction() as session:
        hashes = list(session.scalars(select(ActivationCode.code_hash)))
    assert len(hashes) == 1 and activation not in hashes[0]


def test_activation_code_works_once_and_for_its_admin_only(world: World) -> None:
    code, admin_name, activation = world.allocated_point()
    body = {"username": admin_name, "activation_code": activation, "password": PASSWORD}
    # Another username with the code, while it is still unused: refused, nothing changed.
    assert (
        world.client.post(
            "/api/v1/activation", json={**body, "username": "someone-else"}
        ).status_code
        == 422
    )
    assert state(code) == "ALLOCATED"
    assert world.client.post("/api/v1/activation", json=body).status_code == 200
    assert state(code) == "ACTIVE"
    r = world.client.post("/api/v1/activation", json=body)
    assert r.status_code == 422
    assert r.json["errors"][0]["field"] == "activation_code"


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
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(ActivationCode)) == 0
    # The point's own sub-centre allocates it.
    manager = world.staff("S001", ["management"], "s001-manager")
    r = world.client.post(
        f"/api/v1/acceptance-points/{code}/allocation", headers=manager.headers, json=body
    )
    assert r.status_code == 201 and state(code) == "ALLOCATED"


def suspend(world: World, code: str, headers: dict[str, str], reason: str = "窗口无人值守"):
    return world.client.post(
        f"/api/v1/acceptance-points/{code}/suspend", headers=headers, json={"reason": reason}
    )


def test_suspended_point_staff_cannot_act_until_reinstated(world: World) -> None:
    code, admin = world.operating_point("S001")
    superior = world.staff("S001", ["admin"], "s001-admin")
    r = suspend(world, code, superior.headers)
    assert r.status_code == 200 and r.json["state"] == "SUSPENDED"
    r = world.client.get("/api/v1/me", headers=admin.headers)
    assert r.status_code == 403 and "suspended" in r.json["detail"]
    r = world.client.post(
        "/api/v1/auth/token", json={"username": admin.username, "password": PASSWORD}
    )
    assert r.status_code == 403
    r = world.client.post(f"/api/v1/acceptance-points/{code}/reinstate", headers=superior.headers)
    assert r.status_code == 200 and r.json["state"] == "OPERATING"
    assert world.client.get("/api/v1/me", headers=admin.headers).status_code == 200


def test_suspending_a_suspended_point_is_409_naming_its_state(world: World) -> None:
    code, _admin = world.operating_point("S001")
    superior = world.staff("S001", ["admin"], "s001-admin")
    assert suspend(world, code, superior.headers).status_code == 200
    r = suspend(world, code, superior.headers, "again")
    assert r.status_code == 409 and r.json["current_state"] == "SUSPENDED"


def test_reinstating_an_operating_point_is_409_naming_its_state(world: World) -> None:
    code, _admin = world.operating_point("S001")
    superior = world.staff("S001", ["admin"], "s001-admin")
    r = world.client.post(f"/api/v1/acceptance-points/{code}/reinstate", headers=superior.headers)
    assert r.status_code == 409 and r.json["current_state"] == "OPERATING"


def test_point_cannot_suspend_itself(world: World) -> None:
    code, admin = world.operating_point()
    r = world.client.post(
        f"/api/v1/acceptance-points/{code}/suspend", headers=admin.headers, json={"reason": "x"}
    )
    assert r.status_code == 403
    # Nothing changed: still OPERATING, nothing recorded, its staff still act...
    assert state(code) == "OPERATING"
    assert "point.suspended" not in audit_actions(code)
    assert world.client.get("/api/v1/me", headers=admin.headers).status_code == 200
    # ...and the same request from the point's superior suspends it.
    superior = world.staff("S001", ["admin"], "s001-admin")
    r = suspend(world, code, superior.headers, "x")
    assert r.status_code == 200 and state(code) == "SUSPENDED"
    assert "point.suspended" in audit_actions(code)


def register(world: World, admin_headers: dict[str, str], **staff: Any) -> Any:
    body = {"display_name": "x", "password": PASSWORD, **staff}
    return world.client.post("/api/v1/staff", headers=admin_headers, json=body)


def test_a_point_admin_cannot_give_roles_a_point_does_not_have(world: World) -> None:
    code, admin = world.active_point()
    before = staff_count()
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
    assert staff_count() == before
    # A role a point has, the same admin gives.
    r = register(world, admin.headers, username="ap-service", unit_code=code, roles=["service"])
    assert r.status_code == 201 and staff_count() == before + 1


def test_a_point_admin_cannot_register_staff_above_the_point(world: World) -> None:
    _code, admin = world.active_point()
    before = staff_count()
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
    assert staff_count() == before
    # The sub-centre's own admin registers the same.
    superior = world.staff("S001", ["admin"], "s001-admin")
    r = register(
        world, superior.headers, username="ap-sibling", unit_code="S001", roles=["reviewer"]
    )
    assert r.status_code == 201


def allocation(world: World) -> tuple[str, str, dict[str, str], dict[str, str]]:
    """A listed point, its allocation URL, its manager's headers and an allocation body."""
    code = world.listed_point()
    manager = world.staff("S001", ["management"], "mgr-phone")
    url = f"/api/v1/acceptance-points/{code}/allocation"
    body = {"admin_username": f"{code.lower()}-admin", "admin_display_name": "管理员"}
    return code, url, manager.headers, body


def test_an_allocation_with_a_bad_admin_phone_is_refused_whole(world: World) -> None:
    code, url, headers, body = allocation(world)
    r = world.client.post(url, headers=headers, json={**body, "admin_phone": "1381234"})
    assert r.status_code == 422 and r.json["errors"][0]["field"] == "admin_phone"
    assert state(code) == "LISTED"  # nothing half-written


def test_the_admins_phone_goes_sealed_to_notify_and_is_not_kept(world: World, var_dir) -> None:
    _code, url, headers, body = allocation(world)
    r = world.client.post(url, headers=headers, json={**body, "admin_phone": "13812345678"})
    assert r.status_code == 201, r.json
    with db.transaction() as session:
        (row,) = session.scalars(select(Outbox)).all()
        dump = " ".join(
            str(v) for v in session.execute(text("SELECT staff::text FROM staff")).scalars()
        )
    assert "13812345678" not in str(row.payload) and "13812345678" not in dump
    private = (var_dir / "keys" / "notify_seal_private.pem").read_bytes()
    assert sealing.unseal(private, row.payload["sealed"]["phone"]) == "13812345678"
