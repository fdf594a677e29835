"""E-mail over SMTP: host, port, STARTTLS and credentials from configuration
(``CB_SMTP_*``). The delivery id is the Message-ID, so a retry after an unclear failure can be
recognised downstream as the same message.

A worker process keeps one connection to the server between messages (a connection per
message cost a TCP handshake, EHLO, STARTTLS and a login each time) and says QUIT when it
ends. A kept connection that the server dropped meanwhile (its idle timeout, a restart) shows
at the first command of the next message, before the server was given anything of it; that
message then goes on a new connection. A connection lost after that point is a transient
failure like any other: the delivery is tried again later under the same Message-ID, and is
reported sent only when the server answered 250 to its data.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import io
import re
import smtplib
import ssl
import threading
import time
import typing
from dataclasses import dataclass
from email.generator import BytesGenerator
from email.header import Header
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import formataddr, getaddresses, parseaddr
from functools import lru_cache

from services.notify.channels.failures import PermanentError, TransientError
from shared.settings import Settings

# A connection unused this long is closed rather than trusted: a NAT or a load balancer may
# have dropped it without a word, and a message written into it would wait out the timeout.
MAX_IDLE_SECONDS = 30.0
# What the short path takes as it is: an ASCII dot-atom addr-spec, nothing to quote or fold.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
PLAIN_ADDRESS = re.compile(rf"{_ATOM}(\.{_ATOM})*@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\Z")


class _NotGiven(Exception):
    """The connection was found closed before the server was given any of the message;
    ``error`` is what smtplib's ``sendmail`` would have raised."""

    def __init__(self, error: smtplib.SMTPException) -> None:
        super().__init__(str(error))
        self.error = error


class SmtpMailer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None
        self._last_used = 0.0
        self._lock = threading.Lock()  # one mail transaction at a time on the connection

    def send(self, address: str, subject: str, body: str, key: str) -> None:
        s = self.settings
        if not s.smtp_host:
            raise PermanentError("no SMTP server is configured (CB_SMTP_HOST)")
        message = compose(s.smtp_from, address, subject, body, key)
        try:
            with self._lock:
                self._send(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if all(400 <= code < 500 for code in codes):
                raise TransientError(f"recipient deferred: {codes}") from None
            raise PermanentError(f"recipient refused: {codes}") from None
        except smtplib.SMTPNotSupportedError as exc:  # e.g. AUTH offered only after STARTTLS
            raise PermanentError(
                f"SMTP server does not support what is configured: {exc}"
            ) from None
        except smtplib.SMTPResponseException as exc:
            if 400 <= exc.smtp_code < 500:
                raise TransientError(f"SMTP {exc.smtp_code}") from None
            raise PermanentError(f"SMTP {exc.smtp_code}") from None
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            raise TransientError(f"SMTP unreachable: {type(exc).__name__}") from None

    def close(self) -> None:
        """QUIT and close the kept connection, if there is one (the worker process ends)."""
        with self._lock:
            self._drop(polite=True)

    def _send(self, message: Composed) -> None:
        """One mail transaction on the kept connection, or on a new one if the kept one turns
        out to be closed before the message was given."""
        for _ in range(2):
            smtp, kept = self._connection()
            try:
                transact(smtp, message)
            except _NotGiven as exc:
                self._drop()
                if kept:
                    continue
                raise exc.error from None
            except smtplib.SMTPException:  # a refusal leaves it open, a 421 closed
                if smtp.sock is None:
                    self._drop()
                raise
            except OSError:  # (SMTPException is one too) a timeout, a reset
                self._drop()
                raise
            self._last_used = time.monotonic()
            return

    def _connection(self) -> tuple[smtplib.SMTP, bool]:
        """The kept connection (and True), or a new one."""
        if self._smtp is not None and time.monotonic() - self._last_used > MAX_IDLE_SECONDS:
            self._drop()  # no QUIT: into a dropped connection it would wait out the timeout
        if self._smtp is not None:
            return self._smtp, True
        self._smtp = self._connect()
        self._last_used = time.monotonic()
        return self._smtp, False

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout)
        try:
            if s.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context(cafile=s.smtp_ca_file or None))
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password)
            smtp.ehlo_or_helo_if_needed()
        except BaseException:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                smtp.quit()
            smtp.close()
            raise
        return smtp

    def _drop(self, polite: bool = False) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        if polite:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                smtp.quit()
        smtp.close()


@dataclass(frozen=True)
class Composed:
    """A message ready for the wire: its envelope, its bytes, whether it needs SMTPUTF8."""

    sender: str
    recipients: list[str]
    data: bytes
    utf8: bool


def compose(sender: str, address: str, subject: str, body: str, key: str) -> Composed:
    """The message ``EmailMessage`` would make (the same headers and text as a reader gets
    them), written out directly where nothing needs the email package's header machinery
    (an ASCII addr-spec, a subject on one line): that machinery cost more CPU than the rest
    of a delivery."""
    message_id = f"<{key}@creditbank.zj>"
    from_, subject_ = _header("From", _from_value(sender)), _header("Subject", subject)
    if from_ is None or subject_ is None or not PLAIN_ADDRESS.match(address):
        return _composed_by_email_message(sender, address, subject, body, message_id)
    head = (
        f"From: {from_}\r\n"
        f"To: {address}\r\n"
        f"Subject: {subject_}\r\n"
        f"Message-ID: {message_id}\r\n"
        'Content-Type: text/plain; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: base64\r\n"
        "MIME-Version: 1.0\r\n\r\n"
    )
    text = base64.encodebytes(_normal_text(body)).replace(b"\n", b"\r\n")  # 76 a line
    return Composed(_address_of(sender), [address], head.encode("ascii") + text, utf8=False)


def _normal_text(body: str) -> bytes:
    """The text as ``EmailMessage.set_content`` takes it (UTF-8, every line ended, the last
    one too), in the canonical form RFC 2045 asks of text before base64: CRLF line ends."""
    return b"".join(line + b"\r\n" for line in body.encode().splitlines()) or b"\r\n"


# The sender is one setting and the subjects come from the templates: a few values, each
# encoded once.
@lru_cache(maxsize=256)
def _header(name: str, value: str) -> str | None:
    """A header's value as the email package writes it: RFC 2047 encoded words where it is
    not ASCII, folded at 78 characters; None where that would change what is read (a line
    break or another control character in it, a first word too long for the first line)."""
    if not value.isprintable():
        return None
    charset = "us-ascii" if value.isascii() else "utf-8"
    folded = Header(value, charset, header_name=name).encode(linesep="\r\n")
    return None if folded.startswith("\r\n") else folded


@lru_cache(maxsize=8)
def _from_value(sender: str) -> str:
    return formataddr(parseaddr(sender), "utf-8")


@lru_cache(maxsize=8)
def _address_of(sender: str) -> str:
    return parseaddr(sender)[1]


def _composed_by_email_message(
    sender: str, address: str, subject: str, body: str, message_id: str
) -> Composed:
    """The long path, for any address or subject: as ``smtplib.SMTP.send_message`` would
    send an ``EmailMessage`` (a ``ValueError`` for what cannot be a header)."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, address, subject
    message["Message-ID"] = message_id
    message.set_content(body)
    from_address = getaddresses([str(message["From"])])[0][1]
    recipients = [a for _, a in getaddresses([str(message["To"])])]
    utf8 = not "".join([from_address, *recipients]).isascii()
    policy = typing.cast(EmailPolicy, message.policy).clone(utf8=True) if utf8 else None
    with io.BytesIO() as flat:
        BytesGenerator(flat, policy=policy).flatten(copy.copy(message), linesep="\r\n")
        return Composed(from_address, recipients, flat.getvalue(), utf8)


def transact(smtp: smtplib.SMTP, message: Composed) -> None:
    """MAIL, RCPT, DATA as ``smtplib.SMTP.sendmail`` does them, raising what it raises, but
    ``_NotGiven`` when the first command finds the connection closed (or closing, 421)."""
    options = ["SMTPUTF8", "BODY=8BITMIME"] if message.utf8 else []
    if message.utf8 and not smtp.has_extn("smtputf8"):
        raise smtplib.SMTPNotSupportedError(
            "One or more source or delivery addresses require internationalized email "
            "support, but the server does not advertise the required SMTPUTF8 capability"
        )
    if smtp.does_esmtp and smtp.has_extn("size"):
        options.append(f"size={len(message.data)}")
    try:
        code, reply = smtp.mail(message.sender, options)
    except smtplib.SMTPServerDisconnected as exc:
        raise _NotGiven(exc) from None
    if code == 421:
        raise _NotGiven(smtplib.SMTPSenderRefused(code, reply, message.sender))
    if code != 250:
        _reset(smtp)
        raise smtplib.SMTPSenderRefused(code, reply, message.sender)
    refused = {}
    for recipient in message.recipients:
        code, reply = smtp.rcpt(recipient)
        if code not in (250, 251):
            refused[recipient] = (code, reply)
        if code == 421:
            smtp.close()
            raise smtplib.SMTPRecipientsRefused(refused)
    if len(refused) == len(message.recipients):
        _reset(smtp)
        raise smtplib.SMTPRecipientsRefused(refused)
    code, reply = smtp.data(message.data)
    if code != 250:
        if code == 421:
            smtp.close()
        else:
            _reset(smtp)
        raise smtplib.SMTPDataError(code, reply)


def _reset(smtp: smtplib.SMTP) -> None:
    """RSET after a refusal, so the kept connection starts the next message clean."""
    with contextlib.suppress(smtplib.SMTPServerDisconnected):
        smtp.rset()
