"""Revocations every service honours at once: deactivated accounts and suspended points.

Access tokens are verified locally and live ``access_token_ttl`` seconds. So that deactivating
an account or suspending an acceptance point takes effect everywhere at once (not when the
token expires), org writes the fact to Redis after its commit and every service checks it on
each authenticated request, one MGET. Org re-publishes the whole list every minute (beat), so
a Redis restart or a lost write is mended within a minute. If Redis does not answer, requests
are let through on the token alone (intake must keep taking applications while Redis is down);
org's own state changes are always checked against its database as well.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

import redis

from shared.auth import Principal
from shared.errors import Forbidden, InvalidToken

log = logging.getLogger(__name__)
STAFF_KEY = "cb:auth:deactivated-staff:{}"
UNIT_KEY = "cb:auth:suspended-unit:{}"


class Revocations:
    """The list, with what it said about a caller remembered for ``cache_seconds`` (1 s by
    default): a busy window's front end sends many requests a second with one token, and a
    revocation that takes a second to be seen everywhere is still at once for its purpose."""

    def __init__(self, client: redis.Redis, staff_ttl: int, cache_seconds: float = 1.0) -> None:
        self.redis, self.staff_ttl, self.cache_seconds = client, staff_ttl, cache_seconds
        self._seen: dict[tuple[int, str], tuple[float, Any, Any]] = {}

    def check(self, principal: Principal) -> bool:
        """Refuse a deactivated account's token (401: it is dead) and the staff of a suspended
        point (403: their token is alive, the point may not act). Returns
        whether Redis answered (now, or within ``cache_seconds``)."""
        key, now = (principal.staff_id, principal.unit_code), time.monotonic()
        seen = self._seen.get(key)
        if seen is not None and now - seen[0] < self.cache_seconds:
            staff, unit = seen[1], seen[2]
        else:
            try:
                staff, unit = self.redis.mget(
                    STAFF_KEY.format(principal.staff_id), UNIT_KEY.format(principal.unit_code)
                )
            except redis.RedisError:
                log.warning("revocation list unavailable (Redis); token alone decides")
                return False
            if len(self._seen) > 10_000:
                self._seen.clear()
            self._seen[key] = (now, staff, unit)
        if staff is not None:
            raise InvalidToken("this account is deactivated")
        if unit is not None:
            raise Forbidden(
                f"acceptance point {principal.unit_code} is suspended; its staff cannot act"
            )
        return True

    def staff_deactivated(self, staff_id: int) -> None:
        # Tokens issued before deactivation live at most staff_ttl; no key needs to outlive them.
        self._quietly(lambda: self.redis.set(STAFF_KEY.format(staff_id), 1, ex=self.staff_ttl))

    def staff_reactivated(self, staff_id: int) -> None:
        self._quietly(lambda: self.redis.delete(STAFF_KEY.format(staff_id)))

    def unit_suspended(self, code: str) -> None:
        self._quietly(lambda: self.redis.set(UNIT_KEY.format(code), 1))

    def unit_reinstated(self, code: str) -> None:
        self._quietly(lambda: self.redis.delete(UNIT_KEY.format(code)))

    def publish_all(self, staff_ids: Iterable[int], unit_codes: Iterable[str]) -> None:
        """Assert the full list (org's periodic sync); raises if Redis does not answer."""
        pipe = self.redis.pipeline()
        for staff_id in staff_ids:
            pipe.set(STAFF_KEY.format(staff_id), 1, ex=self.staff_ttl)
        current = set(unit_codes)
        for key in self.redis.scan_iter(UNIT_KEY.format("*"), count=500):
            if key.decode().rsplit(":", 1)[1] not in current:
                pipe.delete(key)
        for code in current:
            pipe.set(UNIT_KEY.format(code), 1)
        pipe.execute()

    def _quietly(self, write: object) -> None:
        try:
            write()  # type: ignore[operator]
        except redis.RedisError:
            log.warning("could not write the revocation list (Redis); the sync will mend it")
