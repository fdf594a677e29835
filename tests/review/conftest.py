"""Review fixtures: fresh tables and the default route table for each test."""

from __future__ import annotations

import hashlib
import itertools
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text

from services.review import cases
from services.review.app import create_app
from services.review.context import worker_context, worker_db
from services.review.models import Case
from services.review.routing import seed_routes
from shared import contracts, evidence
from shared.auth import Principal, TokenIssuer


@pytest.fixture(autouse=True)
def fresh_review() -> Iterator[None]:
    with worker_db().transaction() as session:
        session.execute(text("TRUNCATE cases, routes, outbox, audit_records RESTART IDENTITY"))
        seed_routes(session)
    yield


# A reviewer at AP000001, for rules called directly (not over HTTP).
POINT_REVIEWER = Principal(
    901,
    "ap-reviewer",
    "AP000001",
    "/ZJ/B01/S001/AP000001/",
    "acceptance_point",
    frozenset({"reviewer"}),
    "OPERATING",
)
PDF = b"%PDF-1.4\n% a scanned certificate\n%%EOF\n"


def stored_evidence(content: bytes = PDF) -> str:
    """Put ``content`` in the evidence store as intake does; return its SHA-256."""
    sha = hashlib.sha256(content).hexdigest()
    path = evidence.path_of(worker_context().evidence_store, sha)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return sha


def open_case_message(level: str = "acceptance_point", **overrides: Any) -> dict[str, Any]:
    """A ``review.open_case`` message as intake sends it (JSON-ready)."""
    message = {
        "message_id": str(uuid.uuid4()),
        "application_id": str(uuid.uuid4()),
        "round": 1,
        "level": level,
        "kind": "deposit",
        "outcome_kind": "social_training",
        "unit_code": "AP000001",
        "unit_path": "/ZJ/B01/S001/AP000001/",
        "taken_by_id": 7,
        "credits": None,
        "hours": "48.00",
        "certificate_number": "PX0001",
        "attachments": [stored_evidence()],
        "dates": {"start_date": "2026-03-01", "end_date": "2026-03-20"},
        "submitted_at": datetime.now(UTC).isoformat(),
    }
    message.update(overrides)
    return message


_ids = itertools.count(500)


@pytest.fixture(scope="module")
def review_app() -> Flask:
    return create_app()


@pytest.fixture
def client(review_app: Flask):
    return review_app.test_client()


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
    ) -> dict[str, str]:
        principal = Principal(
            staff_id or next(_ids),
            f"r{unit.lower()}",
            unit,
            path,
            level,
            frozenset(roles),
            "OPERATING" if level == "acceptance_point" else None,
        )
        return {"Authorization": f"Bearer {self.issuer.issue(principal)}"}


@pytest.fixture
def token(var_dir: Path) -> Callable[..., dict[str, str]]:
    return TokenFactory(var_dir).make


def opened(**overrides) -> Case:
    with worker_db().transaction() as session:
        case = cases.open_case(
            session,
            worker_context(),
            contracts.load("review.open_case", open_case_message(**overrides)),
        )
        assert case is not None
        return case
