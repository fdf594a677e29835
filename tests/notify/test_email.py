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
from services.notify.context import worker_db
from services.notify.models import Channel, Delivery
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


def _certificate(folder) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (its own CA), as PEM files."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "smtp.crt", folder / "smtp.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_file), str(key_file)


def test_starttls_and_login_as_configured(var_dir, tmp_path) -> None:
    import ssl

    from aiosmtpd.smtp import AuthResult, LoginPassword

    cert_file, key_file = _certificate(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert_file, key_file)
    logins: list[str] = []

    def authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data.password == b"relay-pass"
        if ok:
            logins.append(auth_data.login.decode())
        return AuthResult(success=ok)

    mailbox, port = Mailbox(), free_port()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=server_tls,
        require_starttls=True,  # no mail, no login, before TLS
        authenticator=authenticator,
        auth_require_tls=True,
    )
    controller.start()
    try:
        ids = accept_with_email(var_dir, "li.si@example.com")
        with worker_db().transaction() as session:
            (email_id,) = [i for i in ids if session.get(Delivery, i).channel == Channel.EMAIL]  # type: ignore[union-attr]
        settings = {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_username": "creditbank"}
        no_tls = context(**settings, smtp_starttls=False, smtp_password="relay-pass")
        with worker_db().transaction() as session:
            assert delivery.attempt(session, no_tls, email_id) == "dead"  # the server insists
        with worker_db().transaction() as session:
            delivery.redrive(session.get(Delivery, email_id))  # type: ignore[arg-type]
        right = context(**settings, smtp_ca_file=cert_file, smtp_password="relay-pass")
        with worker_db().transaction() as session:
            assert delivery.attempt(session, right, email_id) == "sent"
    finally:
        controller.stop()
    assert logins == ["creditbank"]
    (mail,) = mailbox.messages
    assert mail["To"] == "li.si@example.com"
