"""Org fixtures: a fresh tree per test and a small world of staff to act as."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from services.org import tree
from services.org.app import create_app
from services.org.context import db
from services.org.models import Staff, Unit

TABLES = "audit_records, refresh_tokens, token_families, activation_codes, staff, units, outbox"
PASSWORD = "pass-word-123"


@pytest.fixture(scope="session")
def org_app() -> Flask:
    return create_app()


@pytest.fixture(autouse=True)
def fresh_org(org_app: Flask, redis_client: Any) -> Iterator[None]:
    with db.transaction() as session:
        session.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
        session.execute(text("ALTER SEQUENCE acceptance_point_code_seq RESTART"))
        tree.load_tree(session)
    redis_client.flushdb()
    yield
    db.remove()


@dataclass
class Actor:
    username: str
    staff_id: int
    unit_code: str
    headers: dict[str, str]


class World:
    """Creates staff directly through the service layer and signs them in over HTTP."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def staff(self, unit_code: str, roles: list[str], username: str | None = None) -> Actor:
        username = username or f"{unit_code.lower()}-{'-'.join(roles)}"
        with db.transaction() as session:
            unit = session.get(Unit, unit_code)
            assert unit is not None
            staff = Staff(
                username=username,
                display_name=username,
                unit_code=unit_code,
                roles=roles,
                password_hash=_hash(PASSWORD),
            )
            session.add(staff)
            session.flush()
            staff_id = staff.id
        return self.login(username, staff_id, unit_code)

    def login(self, username: str, staff_id: int = 0, unit_code: str = "") -> Actor:
        r = self.client.post(
            "/api/v1/auth/token", json={"username": username, "password": PASSWORD}
        )
        assert r.status_code == 200, r.json
        return Actor(
            username, staff_id, unit_code, {"Authorization": f"Bearer {r.json['access_token']}"}
        )

    def admin(self) -> Actor:
        return self.staff(tree.PROVINCE_CODE, ["admin"], "province-admin")

    def listed_point(self, parent: str = "S001", name: str | None = None) -> str:
        name = name or f"社区学校{_n()}"
        bureau = self.staff(parent, ["bureau"], f"bureau-{parent.lower()}-{_n()}")
        r = self.client.post(
            "/api/v1/acceptance-points",
            headers=bureau.headers,
            json={
                "name": name,
                "parent_code": parent,
                "point_kind": "community_school",
                "point_tier": "township",
            },
        )
        assert r.status_code == 201, r.json
        return r.json["code"]

    def allocated_point(self, parent: str = "S001") -> tuple[str, str, str]:
        """A point in ALLOCATED: (code, admin username, activation code)."""
        code = self.listed_point(parent)
        manager = self.staff(parent, ["management"], f"mgr-{parent.lower()}-{_n()}")
        admin_name = f"{code.lower()}-admin"
        r = self.client.post(
            f"/api/v1/acceptance-points/{code}/allocation",
            headers=manager.headers,
            json={"admin_username": admin_name, "admin_display_name": "管理员"},
        )
        assert r.status_code == 201, r.json
        return code, admin_name, r.json["activation_code"]

    def active_point(self, parent: str = "S001") -> tuple[str, Actor]:
        code, admin_name, activation = self.allocated_point(parent)
        r = self.client.post(
            "/api/v1/activation",
            json={"username": admin_name, "activation_code": activation, "password": PASSWORD},
        )
        assert r.status_code == 200, r.json
        return code, self.login(admin_name, 0, code)

    def operating_point(self, parent: str = "S001") -> tuple[str, Actor]:
        code, admin = self.active_point(parent)
        for role in ("management", "technical", "service"):
            r = self.client.post(
                "/api/v1/staff",
                headers=admin.headers,
                json={
                    "username": f"{code.lower()}-{role}",
                    "display_name": role,
                    "unit_code": code,
                    "roles": [role],
                    "password": PASSWORD,
                },
            )
            assert r.status_code == 201, r.json
        r = self.client.put(
            f"/api/v1/acceptance-points/{code}/window",
            headers=admin.headers,
            json={"address": "杭州市上城区解放路1号", "opening_hours": "周一至周五 9:00-17:00"},
        )
        assert r.status_code == 200, r.json
        r = self.client.post(f"/api/v1/acceptance-points/{code}/start", headers=admin.headers)
        assert r.status_code == 200, r.json
        return code, admin


_counter = [0]


def _n() -> int:
    _counter[0] += 1
    return _counter[0]


def _hash(password: str) -> str:
    from services.org.context import context

    return context().passwords.hash(password)


@pytest.fixture
def client(org_app: Flask) -> Iterator[FlaskClient]:
    with org_app.app_context():
        yield org_app.test_client()


@pytest.fixture
def world(client: FlaskClient) -> World:
    return World(client)
