"""Deactivation and suspension take effect at once in every service, and survive Redis."""

from __future__ import annotations

import pytest
from flask import Flask

from services.org import tasks
from tests.factories import Window, World
from tests.org.conftest import other_service


def listed_points() -> list[str]:
    from sqlalchemy import select

    from services.org.context import db
    from services.org.models import Unit
    from shared.levels import Level

    with db.transaction() as session:
        return list(session.scalars(select(Unit.code).where(Unit.level == Level.ACCEPTANCE_POINT)))


def test_suspension_reaches_another_service_at_once(world: World) -> None:
    code, admin = world.operating_point("S001")
    intake = other_service()
    assert intake.get("/api/v1/whoami", headers=admin.headers).json == {"unit": code}
    superior = world.staff("S001", ["admin"], "s001-admin")
    world.client.post(
        f"/api/v1/acceptance-points/{code}/suspend",
        headers=superior.headers,
        json={"reason": "检查"},
    )
    r = intake.get("/api/v1/whoami", headers=admin.headers)
    assert r.status_code == 403 and "suspended" in r.json["detail"]  # alive, but may not act
    world.client.post(f"/api/v1/acceptance-points/{code}/reinstate", headers=superior.headers)
    assert intake.get("/api/v1/whoami", headers=admin.headers).status_code == 200


def test_deactivation_reaches_another_service_at_once(world: World) -> None:
    admin = world.staff("S001", ["admin"], "s001-admin")
    clerk = world.staff("S001", ["reviewer"], "clerk")
    intake = other_service()
    assert intake.get("/api/v1/whoami", headers=clerk.headers).status_code == 200
    world.client.post(f"/api/v1/staff/{clerk.staff_id}/deactivate", headers=admin.headers)
    r = intake.get("/api/v1/whoami", headers=clerk.headers)
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    world.client.post(f"/api/v1/staff/{clerk.staff_id}/reactivate", headers=admin.headers)
    assert intake.get("/api/v1/whoami", headers=clerk.headers).status_code == 401
    assert intake.get("/api/v1/whoami", headers=world.login("clerk").headers).status_code == 200


def test_a_deactivated_accounts_token_is_dead_to_org_writes_without_redis(
    world: World, redis_client
) -> None:
    admin = world.staff("S001", ["admin"], "s001-admin")
    bureau = world.staff("S001", ["bureau"], "s001-bureau")
    world.client.post(f"/api/v1/staff/{bureau.staff_id}/deactivate", headers=admin.headers)
    redis_client.flushdb()
    point = {"name": "新点", "parent_code": "S001", "point_kind": "other", "point_tier": "city"}
    r = world.client.post("/api/v1/acceptance-points", headers=bureau.headers, json=point)
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    assert listed_points() == []
    # The same write by an active bureau goes through, Redis empty as it is.
    active = world.staff("S001", ["bureau"], "s001-bureau-2")
    r = world.client.post("/api/v1/acceptance-points", headers=active.headers, json=point)
    assert r.status_code == 201 and listed_points() == [r.json["code"]]


def test_redis_loss_is_mended_by_the_sync_and_org_writes_stay_guarded(
    world: World, redis_client
) -> None:
    code, admin = world.operating_point("S001")
    superior = world.staff("S001", ["admin"], "s001-admin")
    world.client.post(
        f"/api/v1/acceptance-points/{code}/suspend",
        headers=superior.headers,
        json={"reason": "检查"},
    )
    redis_client.flushdb()  # as after a Redis restart without persistence
    assert world.client.get("/api/v1/me", headers=admin.headers).status_code == 200
    r = world.client.put(
        f"/api/v1/acceptance-points/{code}/window",
        headers=admin.headers,
        json={"address": "新地址", "opening_hours": "9-5"},
    )
    assert r.status_code == 403  # org's database still says SUSPENDED
    assert tasks.sync_revocations() == 1
    assert world.client.get("/api/v1/me", headers=admin.headers).status_code == 403


def test_the_sync_rewrites_the_live_states_and_drops_those_of_no_point(
    world: World, redis_client
) -> None:
    code, admin = world.operating_point("S001")
    redis_client.flushdb()  # as after a Redis restart without persistence
    redis_client.set("cb:auth:unit-state:AP999999", "SUSPENDED")  # stale: no such point
    tasks.sync_revocations()
    assert redis_client.get("cb:auth:unit-state:AP999999") is None
    assert redis_client.get(f"cb:auth:unit-state:{code}") == b"OPERATING"
    assert world.client.get("/api/v1/me", headers=admin.headers).status_code == 200


def test_the_cache_delays_a_revocation_by_at_most_its_seconds(redis_client) -> None:
    import time

    import pytest

    from shared.auth import Principal
    from shared.errors import Forbidden
    from shared.revocations import Revocations

    principal = Principal(
        7, "x", "AP000009", "/ZJ/B01/S001/AP000009/", "acceptance_point", frozenset()
    )
    revocations = Revocations(redis_client, 900, cache_seconds=0.3)
    revocations.check(principal)
    revocations.point_state("AP000009", "SUSPENDED")
    revocations.check(principal)  # still remembered as allowed
    time.sleep(0.35)
    with pytest.raises(Forbidden):
        revocations.check(principal)


def test_every_step_of_a_points_life_is_published_live(world: World, redis_client) -> None:
    def live(code: str) -> bytes | None:
        return redis_client.get(f"cb:auth:unit-state:{code}")

    assert live(world.listed_point("S001")) == b"LISTED"
    assert live(world.allocated_point("S001")[0]) == b"ALLOCATED"
    assert live(world.active_point("S001")[0]) == b"ACTIVE"
    code, _admin = world.operating_point("S001")
    assert live(code) == b"OPERATING"
    superior = world.staff("S001", ["admin"], "s001-admin")
    path = f"/api/v1/acceptance-points/{code}"
    world.client.post(f"{path}/suspend", headers=superior.headers, json={"reason": "检查"})
    assert live(code) == b"SUSPENDED"
    world.client.post(f"{path}/reinstate", headers=superior.headers)
    assert live(code) == b"OPERATING"
    bureau = world.staff("S002", ["bureau"], "s002-bureau")
    r = world.client.post(
        "/api/v1/acceptance-points/batch",
        headers=bureau.headers,
        data="name,parent_code,point_kind,point_tier\n批量学校,S002,other,city\n".encode(),
        content_type="text/csv",
    )
    assert live(r.json["created"][0]["code"]) == b"LISTED"


def test_the_live_state_stands_for_the_tokens_claim_when_redis_holds_one(redis_client) -> None:
    import redis

    from shared.auth import Principal
    from shared.revocations import Revocations

    claim = Principal(
        7, "x", "AP000009", "/ZJ/B01/S001/AP000009/", "acceptance_point", frozenset(), "ACTIVE"
    )
    revocations = Revocations(redis_client, 900, cache_seconds=0)
    assert revocations.check(claim) == (claim, True)  # nothing held for the point: the claim
    revocations.point_state("AP000009", "OPERATING")
    seen, answered = revocations.check(claim)
    assert seen.unit_state == "OPERATING" and answered
    away = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    assert Revocations(away, 900, cache_seconds=0).check(claim) == (claim, False)


@pytest.fixture
def intake_window(clean_intake: None, intake_app: Flask, var_dir) -> Window:
    """Intake's own app, from empty tables, to act at a point's window."""
    return Window(intake_app.test_client(), var_dir)


def test_a_clerk_takes_applications_as_soon_as_her_point_starts(
    world: World, intake_window: Window
) -> None:
    code, admin = world.ready_point("S001")
    clerk = world.login(f"{code.lower()}-service").headers  # her token says ACTIVE
    r = intake_window.open(clerk)
    assert r.status_code == 403
    assert r.json["detail"] == (
        f"acceptance point {code} is ACTIVE, not OPERATING: it takes applications once it has "
        "started business"
    )
    r = world.client.post(f"/api/v1/acceptance-points/{code}/start", headers=admin.headers)
    assert r.status_code == 200
    r = intake_window.open(clerk)  # the same token, no new sign-in
    assert r.status_code == 201, r.json
    assert intake_window.upload(clerk)
