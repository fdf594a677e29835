"""What delivering needs besides the session: settings, notify's unsealing key, the SMS
provider."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import redis

from services.notify import config
from services.notify.channels import email, sms
from services.notify.ratelimit import RateLimiter, parse_limits
from shared.db import Database
from shared.settings import Settings


@dataclass(frozen=True)
class NotifyContext:
    settings: Settings
    sealing_private_pem: bytes
    sms: sms.SmsProvider
    mail: email.SmtpMailer
    limiter: RateLimiter

    def close(self) -> None:
        """Close the channels' kept connections (the process ends)."""
        self.mail.close()


def build_context(settings: Settings) -> NotifyContext:
    private = settings.key_file("", "notify_seal_private.pem").read_bytes()
    limiter = RateLimiter(
        redis.Redis.from_url(settings.redis_url, socket_timeout=5),
        parse_limits(settings.notify_rate_limits),
    )
    return NotifyContext(
        settings, private, sms.provider(settings), email.SmtpMailer(settings), limiter
    )


@cache
def worker_context() -> NotifyContext:
    return build_context(config.settings())


def close_worker_context() -> None:
    """The worker process's context closed and forgotten, if it was ever made."""
    if worker_context.cache_info().currsize:
        worker_context().close()
        worker_context.cache_clear()


# --- the database and the context, for the web app and for a worker process -------------

db = Database()  # the web app's: bound by create_app, one session per request


@cache
def worker_db() -> Database:
    """The database of a worker process: one session per task (``transaction()``)."""
    settings = config.settings()
    return Database(
        settings.database_url,
        pool_size=settings.worker_db_pool_size,
        max_overflow=settings.worker_db_max_overflow,
    )
