"""Intake fixtures: fresh tables per test, tokens for window staff, learners that exist."""

from __future__ import annotations

import io
import itertools
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text

from services.intake import decisions
from services.intake.app import create_app
from services.intake.context import db, worker_context
from shared.auth import Principal, TokenIssuer
from shared.identity import check_character

TABLES = (
    "ledger_entries, import_records, import_issues, import_chunks, imports, "
    "application_events, application_versions, idempotency_keys, applications, accounts, "
    "learners, attachments, processed_messages, outbox"
)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
_serial = itertools.count(1)


def resident_id(birth: str = "19900307", region: str = "330102", seq: str | None = None) -> str:
    """A valid 18-character resident ID number (its check character computed)."""
    seq = seq or f"{next(_serial) % 1000:03d}"
    first17 = f"{region}{birth}{seq}"
    return first17 + check_character(first17)


def mobile() -> str:
    return f"139{next(_serial) % 100_000_000:08d}"


@pytest.fixture(scope="session")
def intake_app() -> Flask:
    return create_app()


@pytest.fixture(autouse=True)
def fresh_intake(intake_app: Flask, redis_client: Any) -> Iterator[None]:
    with db.transaction() as session:
        session.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    redis_client.flushdb()
    yield
    db.remove()


@pytest.fixture
def client(intake_app: Flask) -> Iterator[FlaskClient]:
    with intake_app.app_context():
        yield intake_app.test_client()


class Window:
    """Signs in as staff of an acceptance point, and acts at its window over the API."""

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
    ) -> dict[str, str]:
        principal = Principal(
            staff_id or next(self.ids),
            f"user{unit.lower()}",
            unit,
            path,
            level,
            frozenset(roles),
            state,
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
) -> str:
    """What review would send: applied directly (the queue path has its own tests)."""
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
    }
    with db.transaction() as session:
        return decisions.apply_decision(session, worker_context(), message)


@pytest.fixture
def window(client: FlaskClient, var_dir: Any) -> Window:
    return Window(client, var_dir)


def count(model: Any) -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)
