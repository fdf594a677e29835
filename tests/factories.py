"""Builders of the people and things tests need, shared by every test package.

- ``World`` (with ``PASSWORD`` and ``Actor``): org's staff and acceptance points, made through
  org's service layer and API; needs an org app context.
- ``Window``, ``decide``, ``resident_id``, ``mobile``, ``PDF``: intake's window staff and
  what they take (learners, evidence, deposits), and review's decision applied directly;
  needs an intake app context.
- ``Conversions``: a catalogue, published conversion standards and approved outcomes to
  convert, over intake's API (an intake app context).
- ``TokenFactory``: tokens for staff of any unit, signed with the run's key, for the services
  that verify tokens on their own (intake, review, notify).
- The tables each service's tests start from empty (``ORG_TABLES``, ...), and
  ``reset_org_tables``/``reset_intake_tables`` to empty them (the fixtures ``clean_org`` and
  ``clean_intake`` in ``tests/conftest.py`` call these).

What one package alone needs stays in its conftest.
"""

from __future__ import annotations

import io
import itertools
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import text

from shared.auth import Principal, TokenIssuer
from shared.identity import check_character

# ---- the tables each service's tests start from empty -----------------------------------

ORG_TABLES = (
    "audit_records, refresh_tokens, token_families, activation_codes, staff, units, outbox, "
    "poison_messages"
)
INTAKE_TABLES = (
    "certificate_entries, certificates, conversion_reservations, conversion_rules, "
    "conversion_standard_versions, "
    "conversion_standards, catalogue_courses, catalogue_programmes, catalogue_institutions, "
    "catalogue_certificates, audit_records, ledger_days, ledger_months, "
    "ledger_entries, ledger_keys, import_records, import_issues, import_chunks, imports, "
    "application_events, application_versions, idempotency_keys, applications, accounts, "
    "learners, attachments, processed_messages, outbox, poison_messages"
)
REVIEW_TABLES = "cases, routes, outbox, audit_records, poison_messages"
# webhooks too: each test registers its own, and one left behind would be sent the next
# test's events.
NOTIFY_TABLES = (
    "inbox_reads, inbox_items, deliveries, events, refused_events, webhooks, outbox, "
    "poison_messages"
)


def reset_org_tables() -> None:
    """Org's tables emptied, its point codes from AP000001 again and the real tree loaded."""
    from services.org import tree
    from services.org.context import db

    with db.transaction() as session:
        session.execute(text(f"TRUNCATE {ORG_TABLES} RESTART IDENTITY CASCADE"))
        session.execute(text("ALTER SEQUENCE acceptance_point_code_seq RESTART"))
        tree.load_tree(session)


def reset_intake_tables() -> None:
    from services.intake.context import db

    with db.transaction() as session:
        session.execute(text(f"TRUNCATE {INTAKE_TABLES} RESTART IDENTITY CASCADE"))


# ---- org: staff and acceptance points ----------------------------------------------------

PASSWORD = "pass-word-123"


@dataclass
class Actor:
    username: str
    staff_id: int
    unit_code: str
    headers: dict[str, str]


class World:
    """Creates staff directly through org's service layer and signs them in over HTTP."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def staff(self, unit_code: str, roles: list[str], username: str | None = None) -> Actor:
        from services.org.context import db
        from services.org.models import Staff, Unit

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
        from services.org import tree

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

    def ready_point(self, parent: str = "S001") -> tuple[str, Actor]:
        """An ACTIVE point with everything it needs to start: its staff and its window."""
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
        return code, admin

    def operating_point(self, parent: str = "S001") -> tuple[str, Actor]:
        code, admin = self.ready_point(parent)
        r = self.client.post(f"/api/v1/acceptance-points/{code}/start", headers=admin.headers)
        assert r.status_code == 200, r.json
        return code, admin


_counter = itertools.count(1)


def _n() -> int:
    return next(_counter)


def _hash(password: str) -> str:
    from services.org.context import context

    return context().passwords.hash(password)


# ---- tokens for the services that verify them on their own -------------------------------

_token_ids = itertools.count(500)


class TokenFactory:
    """Tokens for reviewers (or other staff) of any unit, signed with the run's key."""

    def __init__(self, var_dir: Path) -> None:
        private = (var_dir / "keys" / "jwt_private.pem").read_bytes()
        self.issuer = TokenIssuer(private, "creditbank-org", "creditbank", 900)

    def make(
        self,
        unit: str,
        path: str,
        level: str,
        staff_id: int | None = None,
        roles: tuple[str, ...] = ("reviewer",),
        name: str | None = None,
    ) -> dict[str, str]:
        principal = Principal(
            staff_id or next(_token_ids),
            f"r{unit.lower()}",
            unit,
            path,
            level,
            frozenset(roles),
            "OPERATING" if level == "acceptance_point" else None,
            unit_name=name or f"{unit}的名称",
        )
        return {"Authorization": f"Bearer {self.issuer.issue(principal)}"}


# ---- intake: learners, evidence and deposits at a window ---------------------------------

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
_serial = itertools.count(1)


def resident_id(birth: str = "19900307", region: str = "330102", seq: str | None = None) -> str:
    """A valid 18-character resident ID number (its check character computed)."""
    seq = seq or f"{next(_serial) % 1000:03d}"
    first17 = f"{region}{birth}{seq}"
    return first17 + check_character(first17)


def mobile() -> str:
    return f"139{next(_serial) % 100_000_000:08d}"


class Window:
    """Signs in as staff of an acceptance point, and acts at its window over intake's API."""

    def __init__(self, client: FlaskClient, var_dir: Any) -> None:
        self.client = client
        private = (var_dir / "keys" / "jwt_private.pem").read_bytes()
        self.issuer = TokenIssuer(private, "creditbank-org", "creditbank", 900)
        self.ids = itertools.count(100)

    def token(
        self,
        unit: str = "AP000001",
        path: str = "/ZJ/B01/S001/AP000001/",
        level: str = "acceptance_point",
        roles: tuple[str, ...] = ("service",),
        state: str | None = "OPERATING",
        staff_id: int | None = None,
        name: str | None = None,
    ) -> dict[str, str]:
        principal = Principal(
            staff_id or next(self.ids),
            f"user{unit.lower()}",
            unit,
            path,
            level,
            frozenset(roles),
            state,
            unit_name=name or f"{unit}的名称",
        )
        return {"Authorization": f"Bearer {self.issuer.issue(principal)}"}

    def upload(self, headers: dict[str, str], content: bytes = PDF, name: str = "x.pdf") -> str:
        r = self.client.post(
            "/api/v1/attachments",
            headers=headers,
            data={"file": (io.BytesIO(content), name)},
            content_type="multipart/form-data",
        )
        assert r.status_code in (200, 201), r.json
        return r.json["sha256"]

    def learner(self, **overrides: Any) -> dict[str, Any]:
        body = {
            "document_type": "resident_id",
            "document_number": resident_id(),
            "name": "张三",
            "phone": mobile(),
            "verification_method": "card_reader",
        }
        body.update(overrides)
        return body

    def open(self, headers: dict[str, str], **overrides: Any) -> Any:
        return self.client.post("/api/v1/accounts", headers=headers, json=self.learner(**overrides))

    def open_account(self, headers: dict[str, str]) -> str:
        """An account opened and approved; returns its number."""
        r = self.open(headers)
        assert r.status_code == 201, r.json
        decide(r.json["id"], "approved")
        got = self.client.get(f"/api/v1/applications/{r.json['id']}", headers=headers)
        return got.json["account_number"]

    def deposit_body(self, account: str, evidence: list[str], **outcome: Any) -> dict[str, Any]:
        training = {
            "organiser": "杭州市职业技能培训中心",
            "programme": "电工初级培训",
            "hours": "48.0",
            "start_date": "2026-03-01",
            "end_date": "2026-03-20",
            "certificate_number": f"PX{next(_serial):08d}",
        }
        training.update(outcome)
        return {
            "account_number": account,
            "outcome_kind": "social_training",
            "outcome": training,
            "attachments": evidence,
        }


def decide(
    application_id: str,
    outcome: str,
    round_: int = 1,
    level: str = "acceptance_point",
    message_id: str | None = None,
    reason: str | None = None,
    unit: tuple[str, str] | None = None,
) -> str:
    """What review would send to intake: applied directly (the queue path has its own tests)."""
    from services.intake import decisions
    from services.intake.context import db, worker_context

    message = {
        "message_id": uuid.UUID(message_id) if message_id else uuid.uuid4(),
        "application_id": uuid.UUID(application_id),
        "round": round_,
        "level": level,
        "outcome": outcome,
        "decided_by_id": 900,
        "decided_by": "reviewer",
        "decided_at": date.today(),
        "reason": reason,
        **({"unit_code": unit[0], "unit_name": unit[1]} if unit else {}),
    }
    with db.transaction() as session:
        return decisions.apply_decision(session, worker_context(), message)


# ---- intake: conversion standards and outcomes to convert --------------------------------

PROVINCE_ADMIN = ("ZJ", "/ZJ/", "province", ("admin",), None)
BRANCH_ADMIN = ("B01", "/ZJ/B01/", "branch", ("admin",), None)
# What the rules of the tests point at (the sample seed has its own, marked 示例).
CATALOGUE: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("certificates", "C-WEB", {"name": "Web前端开发", "outcome_kind": "skill_certificate",
                               "levels": ["初级", "中级", "高级"]}),
    ("certificates", "C-ELEC", {"name": "电工", "outcome_kind": "vocational_certificate"}),
    ("institutions", "U1", {"name": "开放大学"}),
    ("programmes", "U1-CS", {"institution_code": "U1", "name": "计算机应用技术"}),
    ("programmes", "U1-ME", {"institution_code": "U1", "name": "机电一体化"}),
    ("courses", "U1-CS-WEB", {"programme_code": "U1-CS", "name": "网页设计", "credits": "3"}),
    ("courses", "U1-CS-EL", {"programme_code": "U1-CS", "name": "专业选修", "credits": "6"}),
)  # fmt: skip
TRAINING_RULE = {
    "source": "training",
    "min_hours": "16",
    "target_institution": "U1",
    "target_programme": "U1-CS",
    "target_course": "U1-CS-EL",
    "method": "per_hours",
    "hours_per_credit": "16",
    "max_credits": "6",
}
CERTIFICATE_RULE = {
    "source": "certificate",
    "catalogue_code": "C-WEB",
    "min_level": "中级",
    "max_age_years": 3,
    "target_institution": "U1",
    "target_programme": "U1-CS",
    "target_course": "U1-CS-WEB",
    "method": "fixed",
    "credits": "3",
}
TARGET = {"institution": "U1", "programme": "U1-CS"}


class Conversions:
    """Conversion standards and the outcomes to convert, made through intake's API."""

    def __init__(self, window: Window) -> None:
        self.window = window
        self.client = window.client
        self.province = window.token(*PROVINCE_ADMIN)

    def catalogue(self) -> None:
        for kind, code, body in CATALOGUE:
            r = self.client.put(
                f"/api/v1/catalogue/{kind}/{code}", headers=self.province, json=body
            )
            assert r.status_code == 200, r.json

    def standard(
        self,
        rules: list[dict[str, Any]] | None = None,
        caps: list[dict[str, Any]] | None = None,
        code: str = "STD",
        effective_from: str = "2026-01-01",
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """A standard created and its first version published; its body as created."""
        headers = headers or self.province
        body = {
            "code": code,
            "name": f"转换标准 {code}",
            "effective_from": effective_from,
            "caps": caps or [],
            "rules": rules if rules is not None else [TRAINING_RULE, CERTIFICATE_RULE],
        }
        r = self.client.post("/api/v1/conversion-standards", headers=headers, json=body)
        assert r.status_code == 201, r.json
        r = self.client.post(
            f"/api/v1/conversion-standards/{code}/versions/1/publish", headers=headers
        )
        assert r.status_code == 200, r.json
        return body

    def outcome(
        self, headers: dict[str, str], account: str, kind: str = "social_training", **fields: Any
    ) -> int:
        """An outcome deposited and approved: its ledger entry's id."""
        sha = self.window.upload(headers)
        if kind == "social_training":
            body = self.window.deposit_body(account, [sha], **fields)
        else:
            outcome = {
                "skill_name": "Web前端开发",
                "catalogue_code": "C-WEB",
                "level": "中级",
                "certificate_number": f"ZS{next(_serial):08d}",
                "issuing_authority": "评价组织",
                "issued_on": "2025-06-01",
                **fields,
            }
            body = {
                "account_number": account,
                "outcome_kind": kind,
                "outcome": outcome,
                "attachments": [sha],
            }
        r = self.client.post("/api/v1/applications", headers=headers, json=body)
        assert r.status_code == 201, r.json
        decide(r.json["id"], "approved")
        entries = self.client.get(
            f"/api/v1/accounts/{account}/ledger?per_page=100", headers=headers
        ).json["items"]
        return int(next(e["id"] for e in entries if e["application_id"] == r.json["id"]))

    def body(self, account: str, outcomes: list[int], **extra: Any) -> dict[str, Any]:
        return {
            "account_number": account,
            "standard": "STD",
            "outcomes": outcomes,
            "target": dict(TARGET),
            **extra,
        }
