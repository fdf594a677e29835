"""E-mail over SMTP: host, port, STARTTLS and credentials from configuration
(``CB_SMTP_*``). The delivery id is the Message-ID, so a retry after an unclear failure can be
recognised downstream as the same message."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from services.notify.channels.failures import PermanentError, TransientError
from shared.settings import Settings


class SmtpMailer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send(self, address: str, subject: str, body: str, key: str) -> None:
        s = self.settings
        if not s.smtp_host:
            raise PermanentError("no SMTP server is configured (CB_SMTP_HOST)")
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = s.smtp_from, address, subject
        message["Message-ID"] = f"<{key}@creditbank.zj>"
        message.set_content(body)
        try:
            with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout) as smtp:
                if s.smtp_starttls:
                    smtp.starttls(context=ssl.create_default_context(cafile=s.smtp_ca_file or None))
                if s.smtp_username:
                    smtp.login(s.smtp_username, s.smtp_password)
                smtp.send_message(message)
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
