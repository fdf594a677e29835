"""What the org service's rules need besides the session: keys, hashers, Redis, settings.

Built once per app (or per worker) and passed to the service functions, so tests can build
one with their own settings.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from functools import cache

import redis
from argon2 import PasswordHasher
from flask import current_app

from services.org import config
from shared.auth import TokenIssuer
from shared.db import Database
from shared.settings import Settings


@dataclass(frozen=True)
class OrgContext:
    settings: Settings
    passwords: PasswordHasher
    issuer: TokenIssuer
    redis: redis.Redis
    notify_public_pem: bytes
    # Keys the hashes of sign-in addresses (services/org/throttle.py), derived from the
    # signing key so that a deployment has no further secret to keep.
    address_key: bytes


def build_context(settings: Settings) -> OrgContext:
    private = settings.key_file(settings.jwt_private_key_file, "jwt_private.pem").read_bytes()
    notify_pub = settings.key_file(settings.notify_public_key_file, "notify_seal_public.pem")
    return OrgContext(
        settings=settings,
        passwords=PasswordHasher(
            time_cost=settings.password_time_cost, memory_cost=settings.password_memory_cost
        ),
        issuer=TokenIssuer(
            private, settings.jwt_issuer, settings.jwt_audience, settings.access_token_ttl
        ),
        redis=redis.Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2),
        notify_public_pem=notify_pub.read_bytes(),
        address_key=hmac.new(private, b"cb:org:login-address", hashlib.sha256).digest(),
    )


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


def context() -> OrgContext:
    """The web app's context (built once by ``create_app``)."""
    return current_app.extensions["cb_context"]  # type: ignore[no-any-return]
