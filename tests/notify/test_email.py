"""E-mail to the learner through a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

import email
from collections.abc import Iterator
from email import policy
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope

from services.notify import delivery
from services.notify.models import Channel, Delivery
from services.notify.worker_db import worker_db
from shared import sealing
from tests.helpers import free_port
from tests.notify.conftest import context, event, sealed_phone


class Mailbox:
    """The SMTP server's handler: keeps every message; refuses one address permanently."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=policy.default)  # type: ignore[arg-type]
        )
        return "250 Message accepted"


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    mailbox, port = Mailbox(), free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield mailbox, port
    controller.stop()


def accept_with_email(var_dir, address: str) -> list:
    public = (var_dir / "keys" / "notify_seal_public.pem").read_bytes()
    message = event(
        "intake.application_decided",
        data={
            "kind": "account_opening",
            "outcome": "approved",
            "account_number": "ZJ****0042",
            "application_id": "a1",
        },
        sealed={"phone": sealed_phone(var_dir), "email": sealing.seal(public, address)},
    )
    with worker_db().transaction() as session:
        return delivery.accept(session, message)


def test_the_learner_gets_an_email_through_smtp(var_dir, smtp) -> None:
    mailbox, port = smtp
    ctx = context(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False)
    ids = accept_with_email(var_dir, "zhang.san@example.com")
    with worker_db().transaction() as session:
        channels = {session.get(Delivery, i).channel for i in ids}  # type: ignore[union-attr]
    assert channels == {Channel.SMS, Channel.EMAIL}
    outcomes = []
    for delivery_id in ids:
        with worker_db().transaction() as session:
            outcomes.append(delivery.attempt(session, ctx, delivery_id))
    assert outcomes == ["sent", "sent"]
    (mail,) = mailbox.messages
    assert mail["To"] == "zhang.san@example.com"
    assert mail["Subject"] == "您的开户申请已通过审核"
    assert "学习账号：ZJ****0042" in mail.get_content()
    email_id = next(i for i in ids if str(i) in mail["Message-ID"])
    assert mail["Message-ID"] == f"<{email_id}@creditbank.zj>"


def test_a_refused_mailbox_is_permanent_and_a_missing_server_transient(var_dir, smtp) -> None:
    mailbox, port = smtp
    ids = accept_with_email(var_dir, "nobody@example.com")
    with worker_db().transaction() as session:
        (email_id,) = [i for i in ids if session.get(Delivery, i).channel == Channel.EMAIL]  # type: ignore[union-attr]
    down = context(smtp_host="127.0.0.1", smtp_port=free_port(), smtp_starttls=False)
    with worker_db().transaction() as session:
        assert delivery.attempt(session, down, email_id) == "retry"
        session.get(Delivery, email_id).next_attempt_at = session.get(Delivery, email_id).created_at  # type: ignore[union-attr]
    up = context(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False)
    with worker_db().transaction() as session:
        assert delivery.attempt(session, up, email_id) == "dead"
        assert "550" in (session.get(Delivery, email_id).last_error or "")  # type: ignore[union-attr]
    assert mailbox.messages == []
