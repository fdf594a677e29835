"""Revocations every service honours at once: deactivated accounts, revoked sign-ins
(refresh-token families), and the live state of each acceptance point (SUSPENDED refused).

Access tokens are verified locally and live ``access_token_ttl`` seconds. So that deactivating
an account, signing out (or a refresh token's reuse) and a point's change of state (suspended,
started) take effect everywhere at once (not when the token expires, nor at the next sign-in),
org writes the fact to Redis after its commit and every service reads it on each authenticated
request, one MGET. Org re-publishes the whole list every minute (beat), so a Redis restart or
a lost write is mended within a minute. If Redis does not answer, requests are let through on
the token alone (intake must keep taking applications while Redis is down); org's own state
changes are always checked against its database as well.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

import redis

from shared.auth import Principal
from shared.errors import Forbidden, InvalidToken

log = logging.getLogger(__name__)
STAFF_KEY = "cb:auth:deactivated-staff:{}"
FAMILY_KEY = "cb:auth:revoked-family:{}"
UNIT_KEY = "cb:auth:unit-state:{}"  # an acceptance point's state, e.g. OPERATING
SUSPENDED = "SUSPENDED"


class Revocations:
    """The list, with what it said about a caller remembered for ``cache_seconds`` (1 s by
    default): a busy window's front end sends many requests a second with one token, and a
    revocation that takes a second to be seen everywhere is still at once for its purpose.

    Facts about tokens (accounts, sign-ins) expire with the last token they concern, after
    ``token_ttl`` seconds."""

    def __init__(self, client: redis.Redis, token_ttl: int, cache_seconds: float = 1.0) -> None:
        self.redis, self.token_ttl, self.cache_seconds = client, token_ttl, cache_seconds
        self._seen: dict[tuple[int, str, str | None], tuple[float, list[Any]]] = {}

    def check(self, principal: Principal) -> tuple[Principal, bool]:
        """The caller with its point's live state, and whether Redis answered (now, or within
        ``cache_seconds``); the token's claim stands when Redis does not answer or holds no
        state for the point. Refuses a dead token (401: its account deactivated or its
        sign-in revoked) and the staff of a suspended point (403: the token is alive, the
        point may not act)."""
        facts = self._facts(principal)
        if facts is None:
            return principal, False
        staff, state, family = facts
        if staff is not None:
            raise InvalidToken("this account is deactivated")
        if family is not None:
            raise InvalidToken("this sign-in has been revoked; sign in again")
        live = state.decode() if state is not None else principal.unit_state
        if live == SUSPENDED:
            raise Forbidden(
                f"acceptance point {principal.unit_code} is suspended; its staff cannot act"
            )
        return replace(principal, unit_state=live), True

    def _facts(self, principal: Principal) -> list[Any] | None:
        key = (principal.staff_id, principal.unit_code, principal.family_id)
        now = time.monotonic()
        seen = self._seen.get(key)
        if seen is not None and now - seen[0] < self.cache_seconds:
            return seen[1]
        keys = [STAFF_KEY.format(principal.staff_id), UNIT_KEY.format(principal.unit_code)]
        if principal.family_id:
            keys.append(FAMILY_KEY.format(principal.family_id))
        try:
            facts = [*self.redis.mget(keys), None][:3]
        except redis.RedisError:
            log.warning("revocation list unavailable (Redis); token alone decides")
            return None
        if len(self._seen) > 10_000:
            self._seen.clear()
        self._seen[key] = (now, facts)
        return facts

    def staff_deactivated(self, staff_id: int, families: Iterable[str] = ()) -> None:
        """The account and the sign-ins it held, which stay revoked if it is reactivated."""

        def write() -> None:
            pipe = self.redis.pipeline()
            pipe.set(STAFF_KEY.format(staff_id), 1, ex=self.token_ttl)
            for family in families:
                pipe.set(FAMILY_KEY.format(family), 1, ex=self.token_ttl)
            pipe.execute()

        self._quietly(write)

    def staff_reactivated(self, staff_id: int) -> None:
        self._quietly(lambda: self.redis.delete(STAFF_KEY.format(staff_id)))

    def family_revoked(self, family: str) -> None:
        self._quietly(lambda: self.redis.set(FAMILY_KEY.format(family), 1, ex=self.token_ttl))

    def point_state(self, code: str, state: str) -> None:
        """An acceptance point's state, after the commit that changed it."""
        self._quietly(lambda: self.redis.set(UNIT_KEY.format(code), state))

    def publish_all(
        self,
        staff_ids: Iterable[int],
        point_states: Mapping[str, str],
        families: Iterable[str] = (),
    ) -> None:
        """Assert the full list (org's periodic sync): every point's state, and the accounts
        and sign-ins revoked within a token's life. Raises if Redis does not answer."""
        pipe = self.redis.pipeline()
        for staff_id in staff_ids:
            pipe.set(STAFF_KEY.format(staff_id), 1, ex=self.token_ttl)
        for family in families:
            pipe.set(FAMILY_KEY.format(family), 1, ex=self.token_ttl)
        for key in self.redis.scan_iter(UNIT_KEY.format("*"), count=500):
            if key.decode().rsplit(":", 1)[1] not in point_states:
                pipe.delete(key)
        if point_states:
            pipe.mset({UNIT_KEY.format(code): state for code, state in point_states.items()})
        pipe.execute()

    def _quietly(self, write: Callable[[], object]) -> None:
        try:
            write()
        except redis.RedisError:
            log.warning("could not write the revocation list (Redis); the sync will mend it")
