"""SMS behind a small provider interface: ``send(phone, text, key)``.

``FileSms`` (the default for local runs) writes each message to a file under
``var/sms/`` so a newcomer can read what would have been sent (the number masked);
``HttpSmsGateway`` posts to an HTTP SMS gateway. Both take the delivery id as an idempotency
key, so a retry after an unclear failure is not a second message at the gateway.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

from services.notify.channels.failures import PermanentError, TransientError, post
from shared.pii import mask_phone
from shared.settings import Settings


class SmsProvider(Protocol):
    def send(self, phone: str, text: str, key: str) -> None: ...


class FileSms:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, phone: str, text: str, key: str) -> None:
        if not phone.isdigit() or len(phone) != 11:
            raise PermanentError("not a mainland mobile number")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            (self.folder / f"{key}.txt").write_text(f"to: {mask_phone(phone)}\n\n{text}\n")
        except OSError as exc:
            raise TransientError(f"cannot write {self.folder}: {exc.strerror}") from None


class HttpSmsGateway:
    """POST {"to", "text"} as JSON, with ``Idempotency-Key``; 2xx is sent."""

    def __init__(self, url: str, timeout: float) -> None:
        if not url.startswith(("https://", "http://")):
            raise ValueError("CB_SMS_GATEWAY_URL must be an http(s) URL")
        self.url, self.timeout = url, timeout

    def send(self, phone: str, text: str, key: str) -> None:
        body = json.dumps({"to": phone, "text": text}, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": key}
        post(self.url, body, headers, self.timeout, "the SMS gateway")


def provider(settings: Settings) -> SmsProvider:
    if settings.sms_provider == "http":
        if not settings.sms_gateway_url:
            raise ValueError("CB_SMS_PROVIDER=http needs CB_SMS_GATEWAY_URL")
        return HttpSmsGateway(settings.sms_gateway_url, settings.sms_gateway_timeout)
    if settings.sms_provider == "file":
        return FileSms(Path(settings.sms_dir or Path(settings.var_dir) / "sms"))
    raise ValueError(f"CB_SMS_PROVIDER: unknown provider {settings.sms_provider!r}")
