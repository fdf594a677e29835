"""E-mail to the learner through a real SMTP server on loopback (aiosmtpd): the message, the
refusals, STARTTLS and login, and the connection a worker keeps between messages (reused,
replaced when the server dropped it, never a message lost or sent twice, QUIT at the end)."""

from __future__ import annotations

import copy
import email
import io
from collections.abc import Iterator
from datetime import timedelta
from email import policy
from email.generator import BytesGenerator
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope
from hypothesis import example, given, settings
from hypothesis import strategies as st

from services.notify import delivery
from services.notify.channels.email import PLAIN_ADDRESS, compose
from services.notify.context import worker_db
from services.notify.models import Channel, Delivery
from shared import sealing
from shared.db import utcnow
from tests.helpers import WorkerProcess, free_port, wait_for
from tests.notify.conftest import context, event, sealed_phone, wire_event


class Mailbox:
    """The SMTP server's handler: keeps every message it accepted and the client connection
    (its port) it came on, the sessions that said QUIT; refuses one address permanently."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.ports: list[int] = []
        self.quits: list[int] = []
        self.servers: list[Any] = []  # the protocol of each connection, to close it under us

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        self.servers.append(server)
        return responses

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=policy.default)  # type: ignore[arg-type]
        )
        self.ports.append(session.peer[1])
        return "250 Message accepted"

    async def handle_QUIT(self, server: Any, session: Any, envelope: Envelope) -> str:
        self.quits.append(session.peer[1])
        return "221 Bye"


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
        outcomes.append(delivery.attempt(worker_db(), ctx, delivery_id))
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
    assert delivery.attempt(worker_db(), down, email_id) == "retry"
    with worker_db().transaction() as session:
        session.get(Delivery, email_id).next_attempt_at = session.get(Delivery, email_id).created_at  # type: ignore[union-attr]
    up = context(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False)
    assert delivery.attempt(worker_db(), up, email_id) == "dead"
    with worker_db().transaction() as session:
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
        assert delivery.attempt(worker_db(), no_tls, email_id) == "dead"  # the server insists
        with worker_db().transaction() as session:
            delivery.redrive(session.get(Delivery, email_id))  # type: ignore[arg-type]
        right = context(**settings, smtp_ca_file=cert_file, smtp_password="relay-pass")
        assert delivery.attempt(worker_db(), right, email_id) == "sent"
    finally:
        controller.stop()
    assert logins == ["creditbank"]
    (mail,) = mailbox.messages
    assert mail["To"] == "li.si@example.com"


# --- the connection a worker keeps -----------------------------------------------------------


def send_email(ctx: Any, var_dir: Any, address: str) -> str:
    """An event with an e-mail address planned, and its e-mail tried: the outcome."""
    ids = accept_with_email(var_dir, address)
    with worker_db().transaction() as session:
        (email_id,) = [i for i in ids if session.get(Delivery, i).channel == Channel.EMAIL]  # type: ignore[union-attr]
    return delivery.attempt(worker_db(), ctx, email_id)


def received(mailbox: Mailbox) -> list[str]:
    return [str(mail["To"]) for mail in mailbox.messages]


def test_one_connection_carries_the_messages_one_after_another(var_dir, smtp) -> None:
    mailbox, port = smtp
    ctx = context(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False)
    addresses = [f"learner{i}@example.com" for i in range(3)]
    assert [send_email(ctx, var_dir, a) for a in addresses] == ["sent"] * 3
    ctx.close()
    assert received(mailbox) == addresses
    assert len(set(mailbox.ports)) == 1 and len(mailbox.servers) == 1
    assert mailbox.quits == mailbox.ports[:1]  # and QUIT when closed


def test_after_a_refusal_the_kept_connection_is_reset_and_takes_the_next_message(
    var_dir, smtp
) -> None:
    mailbox, port = smtp
    ctx = context(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False)
    assert send_email(ctx, var_dir, "nobody@example.com") == "dead"  # 550: RSET, kept
    assert send_email(ctx, var_dir, "wang.wu@example.com") == "sent"
    assert received(mailbox) == ["wang.wu@example.com"] and len(mailbox.servers) == 1


@pytest.mark.integration
def test_a_worker_process_ends_its_kept_connection_with_quit(var_dir, smtp) -> None:
    from services.notify.worker import celery

    mailbox, port = smtp
    public = (var_dir / "keys" / "notify_seal_public.pem").read_bytes()
    message = wire_event(
        var_dir,
        data={"kind": "deposit", "outcome": "approved", "application_id": "a7"},
        sealed={"email": sealing.seal(public, "chen.qi@example.com")},
    )
    worker = WorkerProcess(
        "services.notify.worker",
        ["notify"],
        "notify-quit",
        concurrency=1,
        CB_SMTP_HOST="127.0.0.1",
        CB_SMTP_PORT=str(port),
        CB_SMTP_STARTTLS="false",
    ).start()
    try:
        celery.send_task("notify.deliver", kwargs=message, queue="notify")
        wait_for(lambda: mailbox.messages, timeout=60)
        assert mailbox.quits == []  # kept open between messages
    finally:
        worker.close()  # SIGTERM: a warm shutdown, each pool process ends
    assert received(mailbox) == ["chen.qi@example.com"]
    assert mailbox.quits == mailbox.ports


class Restarting:
    """An aiosmtpd server on a fixed port that can close its connections under its clients:
    by its idle timeout, by a restart, or by answering 421 ("closing") to the next MAIL."""

    def __init__(self, mailbox: Mailbox, timeout: float = 300) -> None:
        self.mailbox, self.port, self.timeout = mailbox, free_port(), timeout
        self.controller = self._start()

    def _start(self) -> Controller:
        controller = Controller(
            self.mailbox, hostname="127.0.0.1", port=self.port, timeout=self.timeout
        )
        controller.start()
        return controller

    def restart(self) -> None:
        """Every connection closed (before the loop stops), then a new server on the port."""
        for server in self.mailbox.servers:
            if not closing(server):
                self.controller.loop.call_soon_threadsafe(server.transport.close)
        self.controller.stop()
        self.controller = self._start()

    def stop(self) -> None:
        self.controller.stop()


def closing(server: Any) -> bool:
    """The server side of a connection is closed, or closing."""
    return server.transport is None or server.transport.is_closing()


class ClosingMailbox(Mailbox):
    """Answers 421 to the second MAIL of a connection, as a server that takes so many
    messages a connection says so."""

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Envelope, address: str, options: Any
    ) -> str:
        session.mails = getattr(session, "mails", 0) + 1
        if session.mails > 1:
            return "421 4.3.2 too many messages on this connection"
        envelope.mail_from = address
        return "250 OK"


@pytest.mark.parametrize("drop", ["idle-timeout", "restart", "421-closing"])
def test_a_kept_connection_the_server_dropped_is_replaced_no_message_lost_or_sent_twice(
    var_dir, drop: str
) -> None:
    mailbox = ClosingMailbox() if drop == "421-closing" else Mailbox()
    server = Restarting(mailbox, timeout=2 if drop == "idle-timeout" else 300)
    try:
        ctx = context(smtp_host="127.0.0.1", smtp_port=server.port, smtp_starttls=False)
        assert send_email(ctx, var_dir, "first@example.com") == "sent"
        if drop == "idle-timeout":  # the server closes the connection it found idle
            wait_for(lambda: closing(mailbox.servers[0]), timeout=10)
        elif drop == "restart":
            server.restart()
        assert send_email(ctx, var_dir, "second@example.com") == "sent"
        ctx.close()
    finally:
        server.stop()
    assert received(mailbox) == ["first@example.com", "second@example.com"]
    assert len(set(mailbox.ports)) == 2  # the second on a new connection


class DroppingMailbox(Mailbox):
    """Closes the connection instead of answering the first message's data: the client
    cannot know whether the server took it (here it did not)."""

    dropped = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        if not self.dropped:
            self.dropped += 1
            server.transport.close()
            return "451 4.3.0 not kept"  # never reaches the client
        return await super().handle_DATA(server, session, envelope)


def test_a_connection_lost_before_the_servers_answer_is_retried_not_reported_sent(
    var_dir,
) -> None:
    mailbox, port = DroppingMailbox(), free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        ctx = context(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False)
        ids = accept_with_email(var_dir, "zhao.liu@example.com")
        with worker_db().transaction() as session:
            (email_id,) = [i for i in ids if session.get(Delivery, i).channel == Channel.EMAIL]  # type: ignore[union-attr]
        assert delivery.attempt(worker_db(), ctx, email_id) == "retry"
        with worker_db().transaction() as session:
            row = session.get(Delivery, email_id)
            assert row is not None and row.status.value == "pending" and row.attempts == 1
            assert "unreachable" in (row.last_error or "")
            row.next_attempt_at = row.created_at  # due again now
        assert delivery.attempt(worker_db(), ctx, email_id) == "sent"
    finally:
        controller.stop()
    assert received(mailbox) == ["zhao.liu@example.com"]


# --- the message as written --------------------------------------------------------------------

SENDERS = [
    "浙江省终身教育学分银行 <noreply@creditbank.zj>",  # the default
    "noreply@creditbank.zj",
    "Zhejiang Lifelong Education Credit Bank Notifications <noreply@creditbank.zj>",
]


def as_email_message_sent_it(sender: str, address: str, subject: str, body: str) -> tuple:
    """What the mailer sent before it wrote messages itself: an ``EmailMessage`` flattened
    as ``smtplib.SMTP.send_message`` does, and its envelope (sender, recipients)."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, address, subject
    message["Message-ID"] = "<d1@creditbank.zj>"
    message.set_content(body)
    envelope = (
        getaddresses([message["From"]])[0][1],
        [a for _, a in getaddresses([message["To"]])],
    )
    international = not "".join([envelope[0], *envelope[1]]).isascii()
    with io.BytesIO() as flat:
        generator = BytesGenerator(
            flat, policy=message.policy.clone(utf8=True) if international else None
        )
        generator.flatten(copy.copy(message), linesep="\r\n")
        return envelope, flat.getvalue()


def as_read(data: bytes) -> tuple:
    """A message as its reader gets it: the headers decoded, the text's lines."""
    mail = email.message_from_bytes(data, policy=policy.default)
    names = ("From", "To", "Subject", "Message-ID", "Content-Type", "MIME-Version")
    return tuple(str(mail[name]) for name in names), mail.get_content().splitlines()


@settings(max_examples=400, deadline=None)
@given(
    sender=st.sampled_from(SENDERS),
    address=st.from_regex(PLAIN_ADDRESS.pattern.removesuffix(r"\Z"), fullmatch=True)
    | st.sampled_from(['"zhang san"@example.com', "张三@example.com", "a@b, c@d"]),
    subject=st.text(max_size=120),
    body=st.text(max_size=600),
)
@example(SENDERS[0], "li.si@example.com", "您的学习成果存入申请已通过审核", "学习账号：ZJ****0042")
@example(SENDERS[0], "li.si@example.com", "x" * 90, "a\rb\n\nc\r\n")  # one long word
def test_a_message_reads_as_email_message_wrote_it(sender, address, subject, body) -> None:
    try:
        envelope, before = as_email_message_sent_it(sender, address, subject, body)
    except ValueError:  # what cannot be a header (a line break) is refused, as before
        with pytest.raises(ValueError):
            compose(sender, address, subject, body, "d1")
        return
    now = compose(sender, address, subject, body, "d1")
    assert (now.sender, now.recipients) == envelope
    assert as_read(now.data) == as_read(before)


# --- a kill between the server's 250 and the record ------------------------------------------


def test_an_e_mail_whose_record_was_lost_goes_again_under_its_id_with_its_attempt_counted(
    var_dir, smtp, monkeypatch
) -> None:
    """The worker dies after the server took the message and before the outcome is recorded
    (``_record`` raising what a kill would leave: nothing written). The claim was committed
    first: the delivery shows one attempt and is leased, so no one sends it while the lease
    runs; when it ends the e-mail goes again, under the same Message-ID, and the record shows
    two attempts for the two copies."""
    mailbox, port = smtp
    ctx = context(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False)
    ids = accept_with_email(var_dir, "qian.qi@example.com")
    with worker_db().transaction() as session:
        (email_id,) = [i for i in ids if session.get(Delivery, i).channel == Channel.EMAIL]  # type: ignore[union-attr]

    def killed(*args: Any) -> None:
        raise SystemExit("killed")

    with monkeypatch.context() as patched:
        patched.setattr(delivery, "_record", killed)
        with pytest.raises(SystemExit):
            delivery.attempt(worker_db(), ctx, email_id)
    with worker_db().transaction() as session:
        row = session.get_one(Delivery, email_id)
        assert (row.status.value, row.attempts) == ("pending", 1)
        assert row.next_attempt_at > utcnow() + timedelta(seconds=ctx.settings.task_time_limit - 10)
    assert delivery.attempt(worker_db(), ctx, email_id) == "not due"  # leased
    with worker_db().transaction() as session:
        session.get_one(Delivery, email_id).next_attempt_at = utcnow()  # the lease ended
    assert delivery.attempt(worker_db(), ctx, email_id) == "sent"
    with worker_db().transaction() as session:
        row = session.get_one(Delivery, email_id)
        assert (row.status.value, row.attempts) == ("sent", 2)
    assert [m["Message-ID"] for m in mailbox.messages] == [f"<{email_id}@creditbank.zj>"] * 2
