"""Review fixtures: fresh tables and the default route table for each test, tokens of any
reviewer (``tests.factories.TokenFactory``), and cases as intake's messages open them."""

from __future__ import annotations

import hashlib
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
from shared.auth import Principal
from tests.factories import REVIEW_TABLES, TokenFactory


@pytest.fixture(autouse=True)
def fresh_review() -> Iterator[None]:
    with worker_db().transaction() as session:
        session.execute(text(f"TRUNCATE {REVIEW_TABLES} RESTART IDENTITY"))
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


@pytest.fixture(scope="module")
def review_app() -> Flask:
    return create_app()


@pytest.fixture
def client(review_app: Flask):
    return review_app.test_client()


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
