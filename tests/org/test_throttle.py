"""The sign-in throttle: per account and source address, per account from addresses not known
for it, forwarded addresses believed only behind a trusted proxy, every refusal logged and
counted, and nobody locked out when Redis does not answer."""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import REGISTRY

from services.org.app import create_app
from shared.logs import JsonFormatter
from tests.factories import PASSWORD, World

OWNER = {"REMOTE_ADDR": "198.51.100.7"}
WRONG = "wrong-pass-1"


def stranger(n: int) -> dict[str, str]:
    return {"REMOTE_ADDR": f"203.0.113.{n}"}


def sign_in(client: Any, username: str, password: str, environ: dict[str, str]) -> Any:
    return client.post(
        "/api/v1/auth/token",
        json={"username": username, "password": password},
        environ_base=environ,
    )


def throttled(scope: str) -> float:
    return REGISTRY.get_sample_value("cb_login_throttled_total", {"scope": scope}) or 0.0


def test_a_stranger_guessing_does_not_keep_the_owner_out(world: World) -> None:
    world.staff("ZJ", ["admin"], "hana")
    before = throttled("address")
    for _ in range(5):
        assert sign_in(world.client, "hana", WRONG, stranger(9)).status_code == 401
    r = sign_in(world.client, "hana", PASSWORD, stranger(9))
    assert r.status_code == 429 and "from this address" in r.json["detail"]
    assert 0 < int(r.headers["Retry-After"]) <= 60
    assert throttled("address") == before + 1
    assert sign_in(world.client, "hana", PASSWORD, OWNER).status_code == 200


def test_guessing_from_many_addresses_holds_back_only_addresses_not_known(world: World) -> None:
    world.staff("ZJ", ["admin"], "iris")
    assert sign_in(world.client, "iris", PASSWORD, OWNER).status_code == 200  # her usual one
    for n in range(10):
        for _ in range(5):
            assert sign_in(world.client, "iris", WRONG, stranger(n)).status_code == 401
    before = throttled("account")
    r = sign_in(world.client, "iris", PASSWORD, stranger(99))  # the right password, too late
    assert r.status_code == 429 and "not signed in from" in r.json["detail"]
    assert 800 < int(r.headers["Retry-After"]) <= 900
    assert throttled("account") == before + 1
    assert sign_in(world.client, "iris", PASSWORD, OWNER).status_code == 200
    assert sign_in(world.client, "iris", WRONG, OWNER).status_code == 401  # still counted there


def test_a_throttled_attempt_is_logged_without_password_or_address(world: World, caplog) -> None:
    jane = world.staff("S001", ["reviewer"], "jane")
    for _ in range(5):
        sign_in(world.client, "jane", WRONG, stranger(7))
    with caplog.at_level(logging.WARNING, logger="services.org.throttle"):
        assert sign_in(world.client, "jane", "secret-guess-9", stranger(7)).status_code == 429
    (record,) = [r for r in caplog.records if r.getMessage() == "sign-in throttled"]
    assert record.scope == "address" and record.staff_id == jane.staff_id
    line = JsonFormatter("org").format(record)
    assert '"address_hash"' in line
    assert "203.0.113" not in line and "secret-guess" not in line and "jane" not in line


def test_forwarded_addresses_count_only_behind_a_trusted_proxy(world: World) -> None:
    world.staff("S001", ["reviewer"], "kate")
    for n in range(5):  # no trusted proxy: the header is anyone's to write, and ignored
        r = world.client.post(
            "/api/v1/auth/token",
            json={"username": "kate", "password": WRONG},
            headers={"X-Forwarded-For": f"203.0.113.{n}"},
        )
        assert r.status_code == 401
    r = sign_in(world.client, "kate", PASSWORD, {"REMOTE_ADDR": "127.0.0.1"})
    assert r.status_code == 429
    behind = create_app({"trusted_proxy_hops": 1}).test_client()
    forwarded = {"REMOTE_ADDR": "10.0.0.2"}
    for _ in range(5):
        r = behind.post(
            "/api/v1/auth/token",
            json={"username": "kate", "password": WRONG},
            headers={"X-Forwarded-For": "203.0.113.50"},
            environ_base=forwarded,
        )
        assert r.status_code == 401
    for clerk, status in (("203.0.113.50", 429), ("203.0.113.51", 200)):
        r = behind.post(
            "/api/v1/auth/token",
            json={"username": "kate", "password": PASSWORD},
            headers={"X-Forwarded-For": clerk},
            environ_base=forwarded,
        )
        assert r.status_code == status, (clerk, r.json)


def test_nobody_is_locked_out_while_redis_does_not_answer(world: World) -> None:
    world.staff("S001", ["reviewer"], "lena")
    away = create_app({"redis_url": "redis://127.0.0.1:1/0"}).test_client()
    for _ in range(6):
        assert sign_in(away, "lena", WRONG, stranger(3)).status_code == 401
    assert sign_in(away, "lena", PASSWORD, stranger(3)).status_code == 200
