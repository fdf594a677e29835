"""Intake fixtures: fresh tables per test, a client, a window to act at
(``tests.factories.Window``), and what intake's own tests count and import."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from services.intake.context import db, worker_context
from services.intake.imports import chunks, lifecycle
from services.intake.models import ImportChunk
from tests.factories import Window


@pytest.fixture(autouse=True)
def fresh_intake(clean_intake: None) -> Iterator[None]:
    yield


@pytest.fixture
def client(intake_app: Flask) -> Iterator[FlaskClient]:
    with intake_app.app_context():
        yield intake_app.test_client()


@pytest.fixture
def window(client: FlaskClient, var_dir: Any) -> Window:
    return Window(client, var_dir)


def count(model: Any) -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


# ---- bulk imports ------------------------------------------------------------------------


def send(window: Window, headers: dict[str, str], data: bytes, name: str = "records.csv") -> Any:
    """An import file sent to ``POST /api/v1/imports``."""
    return window.client.post(
        "/api/v1/imports",
        headers=headers,
        data={"file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def process(import_id: str) -> None:
    """What the import worker does: prepare, then every chunk (each its own transaction)."""
    ctx = worker_context()
    with db.transaction() as session:
        lifecycle.prepare(session, ctx, uuid.UUID(import_id))
    with db.transaction() as session:
        numbers = session.scalars(
            select(ImportChunk.number).where(ImportChunk.import_id == uuid.UUID(import_id))
        ).all()
    for number in numbers:
        with db.transaction() as session:
            chunks.read_chunk(session, ctx, uuid.UUID(import_id), number)
