"""Review fixtures: fresh tables and the default route table for each test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from services.review.routing import seed_routes
from services.review.worker_db import worker_db


@pytest.fixture(autouse=True)
def fresh_review() -> Iterator[None]:
    with worker_db().transaction() as session:
        session.execute(text("TRUNCATE cases, routes, outbox, audit_records RESTART IDENTITY"))
        seed_routes(session)
    yield


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
        "attachments": ["a" * 64],
        "submitted_at": datetime.now(UTC).isoformat(),
    }
    message.update(overrides)
    return message
