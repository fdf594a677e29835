"""Sign-in throttling: failed sign-ins counted in Redis, by account as looked up.

Two limits. Per account and source address (``login_failures_allowed`` per
``login_failure_window``): a stranger guessing from one address is held back without keeping
the account's owner out. Per account across every address (``login_account_failures_allowed``
per ``login_account_failure_window``): guessing from many addresses is held back too, but only
at addresses not known for the account, so the owner at her usual address still signs in. An
address becomes known for an account when a sign-in from it succeeds, and stays known for
``KNOWN_FOR`` seconds after the last one.

Accounts and addresses are stored hashed; an address with a key, because the unkeyed hashes
of all IPv4 addresses are quickly computed. If Redis does not answer nobody is throttled:
throttling slows guessing, and a short Redis outage must not lock everyone out.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass

import redis
from prometheus_client import Counter

from services.org.context import OrgContext
from shared.errors import TooManyRequests
from shared.settings import Settings

log = logging.getLogger(__name__)
Stored = bytes | str | None  # a value as redis-py hands it back
KNOWN_FOR = 30 * 24 * 3600
THROTTLED = Counter(
    "cb_login_throttled",
    "Sign-in attempts refused by the throttle, by the limit that refused them",
    ["scope"],
)
REFUSALS = {
    "address": "too many failed sign-ins for this account from this address",
    "account": "too many failed sign-ins for this account from addresses it has not signed in from",
}


@dataclass(frozen=True)
class Source:
    """Who is trying which account: the Redis keys of one sign-in attempt."""

    account: str
    address: str

    @property
    def here(self) -> str:
        return f"cb:org:login-failures:{self.account}:{self.address}"

    @property
    def everywhere(self) -> str:
        return f"cb:org:login-failures:{self.account}"

    @property
    def known(self) -> str:
        return f"cb:org:login-known:{self.account}:{self.address}"


def source(ctx: OrgContext, name: str, address: str | None) -> Source:
    """The attempt on the account ``name`` (canonical) from ``address``."""
    keyed = hmac.new(ctx.address_key, (address or "unknown").encode(), hashlib.sha256)
    return Source(hashlib.sha256(name.encode()).hexdigest()[:32], keyed.hexdigest()[:32])


def check(ctx: OrgContext, src: Source, staff_id: int | None) -> None:
    """Refuse (429, with Retry-After) an attempt over either limit."""
    try:
        here, everywhere, known = ctx.redis.mget(src.here, src.everywhere, src.known)
        scope = _over(ctx.settings, here, everywhere, known)
        if scope is None:
            return
        ttl = max(1, int(ctx.redis.ttl(src.here if scope == "address" else src.everywhere)))
    except redis.RedisError:
        log.warning("login throttle unavailable (Redis)")
        return
    THROTTLED.labels(scope=scope).inc()
    log.warning(
        "sign-in throttled",
        extra={"scope": scope, "staff_id": staff_id, "address_hash": src.address[:12]},
    )
    raise TooManyRequests(f"{REFUSALS[scope]}; wait and try again", retry_after=ttl)


def _over(settings: Settings, here: Stored, everywhere: Stored, known: Stored) -> str | None:
    if int(here or 0) >= settings.login_failures_allowed:
        return "address"
    if known is None and int(everywhere or 0) >= settings.login_account_failures_allowed:
        return "account"
    return None


def failed(ctx: OrgContext, src: Source) -> None:
    """Count a failure under both limits; each window runs from its first failure."""
    settings = ctx.settings
    try:
        pipe = ctx.redis.pipeline()
        for key, window in (
            (src.here, settings.login_failure_window),
            (src.everywhere, settings.login_account_failure_window),
        ):
            pipe.incr(key)
            pipe.expire(key, window, nx=True)
        pipe.execute()
    except redis.RedisError:
        log.warning("login throttle unavailable (Redis)")


def succeeded(ctx: OrgContext, src: Source) -> None:
    """The address is known for the account from now on; its own failures are forgiven.
    The account's count is not: the owner signing in must not clear the way for a guesser."""
    try:
        pipe = ctx.redis.pipeline()
        pipe.delete(src.here)
        pipe.set(src.known, 1, ex=KNOWN_FOR)
        pipe.execute()
    except redis.RedisError:
        log.warning("login throttle unavailable (Redis)")
