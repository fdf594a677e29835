"""What delivering needs besides the session: settings, notify's unsealing key, the SMS
provider."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from services.notify import config
from services.notify.channels import sms
from shared.settings import Settings


@dataclass(frozen=True)
class NotifyContext:
    settings: Settings
    sealing_private_pem: bytes
    sms: sms.SmsProvider


def build_context(settings: Settings) -> NotifyContext:
    private = settings.key_file("", "notify_seal_private.pem").read_bytes()
    return NotifyContext(settings, private, sms.provider(settings))


@cache
def worker_context() -> NotifyContext:
    return build_context(config.settings())
