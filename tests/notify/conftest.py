"""Notify fixtures: fresh tables, events as the senders write them, a phone sealed for notify,
and a real HTTP server on loopback standing in for the SMS gateway."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text

from services.notify import config
from services.notify.app import create_app
from services.notify.context import NotifyContext, build_context, worker_db
from shared import sealing
from tests.factories import NOTIFY_TABLES
from tests.helpers import QuietHandler


@pytest.fixture(scope="module")
def notify_app() -> Flask:
    return create_app()


@pytest.fixture(autouse=True)
def fresh_notify() -> Iterator[None]:
    with worker_db().transaction() as session:
        session.execute(text(f"TRUNCATE {NOTIFY_TABLES} RESTART IDENTITY CASCADE"))
    yield


def sealed_phone(var_dir: Path, phone: str = "13812345678") -> str:
    return sealing.seal((var_dir / "keys" / "notify_seal_public.pem").read_bytes(), phone)


def wire_event(var_dir: Path, **overrides: Any) -> dict[str, Any]:
    """As the relay publishes it: JSON-ready."""
    message = {
        "message_id": str(uuid.uuid4()),
        "event_type": "intake.application_decided",
        "occurred_at": "2026-11-27T10:00:00+08:00",
        "unit_code": "AP000001",
        "unit_path": "/ZJ/B01/S001/AP000001/",
        "data": {
            "kind": "account_opening",
            "outcome": "approved",
            "account_number": "ZJ2026****0042",
        },
        "sealed": {"phone": sealed_phone(var_dir)},
    }
    message.update(overrides)
    return message


def event(event_type: str = "review.application_decided", **overrides: Any) -> dict[str, Any]:
    """A ``notify.deliver`` message as loaded by its contract."""
    message: dict[str, Any] = {
        "message_id": uuid.uuid4(),
        "event_type": event_type,
        "occurred_at": datetime.now(UTC),
        "unit_code": "AP000001",
        "unit_path": "/ZJ/B01/S001/AP000001/",
        "recipient_staff_ids": [],
        "data": {
            "application_id": str(uuid.uuid4()),
            "round": 1,
            "kind": "deposit",
            "outcome": "approved",
            "level": "subcentre",
        },
        "sealed": {},
    }
    message.update(overrides)
    return message


class Gateway:
    """An SMS gateway on loopback: answers ``failures`` first, then 200; records requests."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.failures: list[int] = []
        gateway = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status = gateway.failures.pop(0) if gateway.failures else 200
                gateway.requests.append(
                    {"key": self.headers["Idempotency-Key"], "status": status, **body}
                )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/sms"

    def accepted(self) -> set[str]:
        """Idempotency keys of the messages the gateway accepted (what a phone receives)."""
        return {r["key"] for r in self.requests if r["status"] == 200}


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    g = Gateway()
    g.thread.start()
    yield g
    g.server.shutdown()
    g.server.server_close()


def context(**overrides: Any) -> NotifyContext:
    return build_context(config.settings(overrides))
