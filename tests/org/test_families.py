"""Refresh-token families (OAuth 2.0 Security BCP §4.14): each sign-in is one family, a spent
refresh token used again revokes it whole, and so does signing out, at once on every
service, and again after Redis has lost it."""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select, text

from services.org import tasks
from services.org.context import db
from services.org.models import TokenFamily, Unit
from shared.auth import TokenVerifier
from tests.factories import PASSWORD, World
from tests.helpers import wait_for
from tests.org.conftest import other_service


@pytest.fixture
def intake() -> Any:
    # Made before the test's log capture starts: an app's logging set-up replaces handlers.
    return other_service()


def sign_in(world: World, username: str) -> dict[str, str]:
    r = world.client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.json
    return r.json


def rotate(world: World, refresh_token: str) -> Any:
    return world.client.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token})


def bearer(pair: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {pair['access_token']}"}


def family_of(pair: dict[str, str], var_dir) -> str | None:
    public = (var_dir / "keys" / "jwt_public.pem").read_bytes()
    verifier = TokenVerifier(public, "creditbank-org", "creditbank")
    return verifier.verify(pair["access_token"]).family_id


def test_access_tokens_carry_the_sign_in_they_come_from(world: World, var_dir) -> None:
    world.staff("S001", ["reviewer"], "mona")
    first = sign_in(world, "mona")
    rotated = rotate(world, first["refresh_token"]).json
    assert family_of(first, var_dir) == family_of(rotated, var_dir) is not None
    assert family_of(sign_in(world, "mona"), var_dir) != family_of(first, var_dir)


def test_a_spent_refresh_token_used_again_revokes_its_whole_sign_in(
    world: World, intake: Any
) -> None:
    world.staff("S001", ["reviewer"], "nina")
    first = sign_in(world, "nina")
    second = rotate(world, first["refresh_token"]).json
    third = rotate(world, second["refresh_token"]).json
    elsewhere = sign_in(world, "nina")  # another sign-in of hers, on another machine
    assert rotate(world, first["refresh_token"]).status_code == 401
    assert rotate(world, third["refresh_token"]).status_code == 401
    for pair in (first, second, third):
        r = world.client.get("/api/v1/me", headers=bearer(pair))
        assert r.status_code == 401 and "revoked" in r.json["detail"]
        r = intake.get("/api/v1/whoami", headers=bearer(pair))
        assert r.status_code == 401 and 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    assert intake.get("/api/v1/whoami", headers=bearer(elsewhere)).status_code == 200
    assert rotate(world, elsewhere["refresh_token"]).status_code == 200


def test_a_refresh_token_used_again_is_logged_and_audited_once(
    world: World, intake: Any, caplog
) -> None:
    nina = world.staff("S001", ["reviewer"], "nina")
    admin = world.staff("S001", ["admin"], "s001-admin")
    first = sign_in(world, "nina")
    rotate(world, first["refresh_token"])
    with caplog.at_level(logging.WARNING, logger="services.org.accounts"):
        assert rotate(world, first["refresh_token"]).status_code == 401
    (record,) = [r for r in caplog.records if "used again" in r.getMessage()]
    assert record.staff_id == nina.staff_id and record.family_id
    audit = world.client.get("/api/v1/audit?action=auth.refresh_reuse", headers=admin.headers)
    (entry,) = audit.json["items"]
    assert entry["target"] == "nina" and entry["detail"] == {"family_id": record.family_id}
    assert rotate(world, first["refresh_token"]).status_code == 401  # nothing more to revoke
    assert (
        world.client.get("/api/v1/audit?action=auth.refresh_reuse", headers=admin.headers).json[
            "total"
        ]
        == 1
    )


def test_signing_out_revokes_the_sign_in_at_once_everywhere(world: World, intake: Any) -> None:
    world.staff("S001", ["reviewer"], "olga")
    admin = world.staff("S001", ["admin"], "s001-admin")
    first = sign_in(world, "olga")
    second = rotate(world, first["refresh_token"]).json
    kept = sign_in(world, "olga")
    r = world.client.post("/api/v1/auth/revoke", json={"refresh_token": second["refresh_token"]})
    assert r.status_code == 204
    for pair in (first, second):
        assert world.client.get("/api/v1/me", headers=bearer(pair)).status_code == 401
        assert intake.get("/api/v1/whoami", headers=bearer(pair)).status_code == 401
    assert rotate(world, second["refresh_token"]).status_code == 401
    assert intake.get("/api/v1/whoami", headers=bearer(kept)).status_code == 200
    audit = world.client.get("/api/v1/audit?action=auth.refresh_reuse", headers=admin.headers)
    assert audit.json["total"] == 0  # a sign-out is no reuse


def test_signing_out_with_an_unknown_refresh_token_is_204(world: World) -> None:
    r = world.client.post("/api/v1/auth/revoke", json={"refresh_token": "no-such-token"})
    assert r.status_code == 204


def test_a_revoked_sign_in_stays_revoked_through_a_redis_loss(
    world: World, intake: Any, redis_client
) -> None:
    world.staff("S001", ["bureau"], "pia")
    pair = sign_in(world, "pia")
    world.client.post("/api/v1/auth/revoke", json={"refresh_token": pair["refresh_token"]})
    redis_client.flushdb()  # as after a Redis restart without persistence
    r = world.client.post(
        "/api/v1/acceptance-points",
        headers=bearer(pair),
        json={"name": "新点", "parent_code": "S001", "point_kind": "other", "point_tier": "city"},
    )
    assert r.status_code == 401  # org's writes check its own database
    with db.transaction() as session:
        assert session.scalar(select(func.count()).where(Unit.name == "新点")) == 0
    assert intake.get("/api/v1/whoami", headers=bearer(pair)).status_code == 200
    assert tasks.sync_revocations() == 1
    assert intake.get("/api/v1/whoami", headers=bearer(pair)).status_code == 401


def test_two_uses_of_one_refresh_token_at_once_are_decided_one_after_the_other(
    world: World, org_app: Any, var_dir
) -> None:
    world.staff("S001", ["reviewer"], "rita")
    pair = sign_in(world, "rita")
    family_id = uuid.UUID(family_of(pair, var_dir))
    answers: list[int] = []

    def use() -> None:
        with org_app.app_context():
            answers.append(rotate(World(org_app.test_client()), pair["refresh_token"]).status_code)

    with db.transaction() as holder:  # both arrive while the family is held
        holder.execute(select(TokenFamily).where(TokenFamily.id == family_id).with_for_update())
        users = [threading.Thread(target=use) for _ in range(2)]
        for user in users:
            user.start()
        wait_for(lambda: waiting_for_locks() == 2)
    for user in users:
        user.join(timeout=20)
    assert sorted(answers) == [200, 401]  # the second is a reuse: the sign-in is revoked
    with db.transaction() as session:
        family = session.get(TokenFamily, family_id)
        assert family is not None and family.revoked_because == "reuse"


def waiting_for_locks() -> int:
    with db.transaction() as other:
        return int(
            other.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
            or 0
        )
