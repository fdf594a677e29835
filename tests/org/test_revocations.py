"""Deactivation and suspension take effect at once in every service, and survive Redis."""

from __future__ import annotations

from flask_smorest import Blueprint

from services.intake import config as intake_config
from services.intake.app import db as intake_db
from services.org import tasks
from shared.auth import current_principal
from shared.web import create_service_app
from tests.org.conftest import World


def other_service():
    """The intake service's app with one view that needs a signed-in caller."""
    blp = Blueprint("probe", __name__)

    @blp.route("/whoami")
    def whoami():
        return {"unit": current_principal().unit_code}

    settings = intake_config.settings()
    app = create_service_app("intake", settings, intake_db, [blp], "t", "t")
    return app.test_client()


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
    r = world.client.post(
        "/api/v1/acceptance-points",
        headers=bureau.headers,
        json={"name": "新点", "parent_code": "S001", "point_kind": "other", "point_tier": "city"},
    )
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["WWW-Authenticate"]


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
    world.client.post(f"/api/v1/acceptance-points/{code}/reinstate", headers=superior.headers)
    redis_client.set("cb:auth:suspended-unit:AP999999", 1)  # stale entry: no such suspension
    tasks.sync_revocations()
    assert redis_client.get("cb:auth:suspended-unit:AP999999") is None
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
    revocations.unit_suspended("AP000009")
    revocations.check(principal)  # still remembered as allowed
    time.sleep(0.35)
    with pytest.raises(Forbidden):
        revocations.check(principal)
