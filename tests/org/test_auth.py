"""Sign-in, tokens verified locally, refresh rotation, throttling and deactivation."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from services.org.context import context
from shared.auth import Principal, TokenIssuer, TokenVerifier, generate_keypair
from shared.errors import Unauthorized
from tests.factories import PASSWORD, Actor, World


def test_token_carries_scope_and_verifies_with_public_key(world: World, var_dir) -> None:
    world.staff("S001", ["reviewer", "management"], "alice")
    r = world.client.post("/api/v1/auth/token", json={"username": "ALICE", "password": PASSWORD})
    assert r.status_code == 200 and r.json["token_type"] == "Bearer"
    assert r.json["expires_in"] == 900
    public = (var_dir / "keys" / "jwt_public.pem").read_bytes()
    principal = TokenVerifier(public, "creditbank-org", "creditbank").verify(r.json["access_token"])
    assert principal.unit_code == "S001" and principal.unit_path == "/ZJ/B01/S001/"
    assert principal.roles == {"reviewer", "management"}
    assert principal.unit_state is None
    assert principal.unit_name == "浙江学分银行杭州市上城区分中心"  # for what services record


def test_point_staff_are_seen_with_the_points_live_state(world: World, var_dir) -> None:
    _code, admin = world.operating_point("S001")  # the admin signed in while it was ACTIVE
    public = (var_dir / "keys" / "jwt_public.pem").read_bytes()
    verifier = TokenVerifier(public, "creditbank-org", "creditbank")
    assert verifier.verify(admin.headers["Authorization"][7:]).unit_state == "ACTIVE"
    me = world.client.get("/api/v1/me", headers=admin.headers).json
    assert me["unit_state"] == "OPERATING"


def test_wrong_password_and_unknown_user_look_the_same(world: World) -> None:
    world.staff("S001", ["reviewer"], "bob")
    a = world.client.post("/api/v1/auth/token", json={"username": "bob", "password": "nope-123456"})
    b = world.client.post("/api/v1/auth/token", json={"username": "nobody", "password": "x"})
    assert a.status_code == b.status_code == 401
    assert a.json["detail"] == b.json["detail"]
    assert "WWW-Authenticate" in a.headers


def test_five_failures_a_minute_throttle_the_account(world: World) -> None:
    world.staff("S001", ["reviewer"], "carol")
    for _ in range(5):
        r = world.client.post(
            "/api/v1/auth/token", json={"username": "carol", "password": "bad-1234567"}
        )
        assert r.status_code == 401
    r = world.client.post("/api/v1/auth/token", json={"username": "carol", "password": PASSWORD})
    assert r.status_code == 429
    assert 0 < int(r.headers["Retry-After"]) <= 60
    world.staff("S001", ["reviewer"], "dave")  # another account is not affected
    assert (
        world.client.post(
            "/api/v1/auth/token", json={"username": "dave", "password": PASSWORD}
        ).status_code
        == 200
    )


def test_spellings_of_one_username_share_its_failures(world: World) -> None:
    world.staff("S001", ["reviewer"], "cathy")
    for spelling in (" cathy", "cathy ", "\tcathy", "CATHY", "Cathy\n"):
        r = world.client.post(
            "/api/v1/auth/token", json={"username": spelling, "password": "bad-1234567"}
        )
        assert r.status_code == 401
    r = world.client.post("/api/v1/auth/token", json={"username": "cathy", "password": PASSWORD})
    assert r.status_code == 429


def test_refresh_rotates_and_spent_token_is_refused(world: World) -> None:
    world.staff("S001", ["reviewer"], "erin")
    first = world.client.post("/api/v1/auth/token", json={"username": "erin", "password": PASSWORD})
    old = first.json["refresh_token"]
    r = world.client.post("/api/v1/auth/refresh", json={"refresh_token": old})
    assert r.status_code == 200 and r.json["refresh_token"] != old
    assert world.client.post("/api/v1/auth/refresh", json={"refresh_token": old}).status_code == 401
    new = r.json["refresh_token"]
    assert world.client.post("/api/v1/auth/revoke", json={"refresh_token": new}).status_code == 204
    assert world.client.post("/api/v1/auth/refresh", json={"refresh_token": new}).status_code == 401


def test_token_answers_are_never_stored(world: World) -> None:
    world.staff("S001", ["reviewer"], "ella")
    signed_in = world.client.post(
        "/api/v1/auth/token", json={"username": "ella", "password": PASSWORD}
    )
    refreshed = world.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": signed_in.json["refresh_token"]}
    )
    for r in (signed_in, refreshed):
        assert r.status_code == 200
        assert r.headers["Cache-Control"] == "no-store" and r.headers["Pragma"] == "no-cache"
    assert "no-store" not in world.client.get("/healthz").headers.get("Cache-Control", "")


def deactivate(world: World, who: Actor, by: Actor) -> Any:
    return world.client.post(f"/api/v1/staff/{who.staff_id}/deactivate", headers=by.headers)


def test_deactivated_account_cannot_sign_in_refresh_or_act(world: World) -> None:
    admin = world.staff("S001", ["admin"], "s001-admin")
    frank = world.staff("S001", ["reviewer"], "frank")
    pair = world.client.post("/api/v1/auth/token", json={"username": "frank", "password": PASSWORD})
    r = deactivate(world, frank, admin)
    assert r.status_code == 200 and r.json["active"] is False
    assert (
        world.client.post(
            "/api/v1/auth/token", json={"username": "frank", "password": PASSWORD}
        ).status_code
        == 403
    )
    assert (
        world.client.post(
            "/api/v1/auth/refresh", json={"refresh_token": pair.json["refresh_token"]}
        ).status_code
        == 401
    )
    r = world.client.get("/api/v1/me", headers=frank.headers)
    assert r.status_code == 401 and r.json["detail"] == "this account is deactivated"
    assert r.headers["WWW-Authenticate"] == (
        'Bearer realm="creditbank", error="invalid_token", '
        'error_description="this account is deactivated"'
    )


def test_deactivating_a_deactivated_account_is_409(world: World) -> None:
    admin = world.staff("S001", ["admin"], "s001-admin")
    frank = world.staff("S001", ["reviewer"], "frank")
    assert deactivate(world, frank, admin).status_code == 200
    r = deactivate(world, frank, admin)
    assert r.status_code == 409


def test_an_admin_cannot_deactivate_their_own_account(world: World) -> None:
    admin = world.staff("S001", ["admin"], "s001-admin")
    r = deactivate(world, admin, admin)
    assert r.status_code == 409


def test_after_reactivation_a_new_sign_in_acts_and_one_of_before_stays_dead(
    world: World,
) -> None:
    admin = world.staff("S001", ["admin"], "s001-admin")
    frank = world.staff("S001", ["reviewer"], "frank")
    assert deactivate(world, frank, admin).status_code == 200
    r = world.client.post(f"/api/v1/staff/{frank.staff_id}/reactivate", headers=admin.headers)
    assert r.status_code == 200
    r = world.client.get("/api/v1/me", headers=frank.headers)  # a sign-in of before stays dead
    assert r.status_code == 401 and "revoked" in r.json["detail"]
    assert world.client.get("/api/v1/me", headers=world.login("frank").headers).status_code == 200


PROVINCIAL_ADMIN = Principal(1, "x", "ZJ", "/ZJ/", "province", frozenset({"admin"}))


def test_a_missing_token_is_401_without_an_error(world: World) -> None:
    r = world.client.get("/api/v1/units")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="creditbank"'  # no token, no error
    assert world.client.get("/api/v1/units", headers=world.admin().headers).status_code == 200


def test_a_token_signed_with_another_key_is_401(world: World, tmp_path) -> None:
    principal = PROVINCIAL_ADMIN
    generate_keypair(tmp_path / "k", tmp_path / "k.pub")
    forged = TokenIssuer((tmp_path / "k").read_bytes(), "creditbank-org", "creditbank", 60)
    r = world.client.get(
        "/api/v1/units", headers={"Authorization": f"Bearer {forged.issue(principal)}"}
    )
    assert r.status_code == 401 and r.json["detail"] == "the access token is not valid"


def test_an_expired_token_is_401_saying_so(world: World) -> None:
    principal = PROVINCIAL_ADMIN
    issuer = context().issuer
    expired = TokenIssuer.__new__(TokenIssuer)
    expired.__dict__.update(issuer.__dict__, ttl=-10)
    r = world.client.get(
        "/api/v1/units", headers={"Authorization": f"Bearer {expired.issue(principal)}"}
    )
    assert r.status_code == 401 and "expired" in r.json["detail"]
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]


def test_an_unsigned_token_is_401(world: World) -> None:
    none_alg = jwt.encode({"sub": "1", "exp": time.time() + 60}, key=None, algorithm="none")
    r = world.client.get("/api/v1/units", headers={"Authorization": f"Bearer {none_alg}"})
    assert r.status_code == 401


def test_verifier_refuses_token_for_other_audience(var_dir) -> None:
    private = (var_dir / "keys" / "jwt_private.pem").read_bytes()
    public = (var_dir / "keys" / "jwt_public.pem").read_bytes()
    token = TokenIssuer(private, "creditbank-org", "elsewhere", 60).issue(
        Principal(1, "x", "ZJ", "/ZJ/", "province", frozenset())
    )
    with pytest.raises(Unauthorized, match="not valid"):
        TokenVerifier(public, "creditbank-org", "creditbank").verify(token)


def test_first_admin_command_is_idempotent(org_app, monkeypatch) -> None:
    from services.org.cli import create_admin

    monkeypatch.setenv("CB_ADMIN_USERNAME", "root-admin")
    monkeypatch.setenv("CB_ADMIN_PASSWORD", "first-pass-123")
    runner = org_app.test_cli_runner()
    assert "created" in runner.invoke(create_admin).output
    monkeypatch.setenv("CB_ADMIN_PASSWORD", "other-pass-456")
    assert "already exists" in runner.invoke(create_admin).output
    client = org_app.test_client()
    assert (
        client.post(
            "/api/v1/auth/token", json={"username": "root-admin", "password": "first-pass-123"}
        ).status_code
        == 200
    )
    r = client.post(
        "/api/v1/auth/token", json={"username": "root-admin", "password": "first-pass-123"}
    )
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {r.json['access_token']}"})
    assert me.json["unit_code"] == "ZJ" and me.json["roles"] == ["admin"]
