"""Who is signed in at this browser, their tokens, and every API call made on their behalf.

The access and refresh tokens live in Redis under the session's id, apart from the session
itself: org's refresh *spends* the refresh token it is given, so a page's requests arriving
together must not each refresh, nor a slow request write back tokens that were replaced
while it ran. A refresh is made under a per-session lock; whoever waits takes the tokens it
left. An API's 401 is answered by one refresh and one retry, then the person signs in again.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar, cast

import redis
from flask import current_app, session

from services.window.apis import ApiError, apis, problem_of

TOKENS = "cb:window:tokens:{}"
LOCK = "cb:window:refresh-lock:{}"
REFRESH_BEFORE = 60  # seconds of life left when a token is refreshed before use
LOCK_MS, WAIT = 5000, 5.0


class SignInAgain(Exception):
    """The person's sign-in is over (expired, revoked, or never was): back to the sign-in page."""


@dataclass(frozen=True)
class Person:
    staff_id: int
    username: str
    unit_code: str
    unit_path: str
    unit_level: str
    unit_state: str | None
    roles: tuple[str, ...]

    def has(self, *roles: str) -> bool:
        return bool(set(self.roles) & set(roles))

    @property
    def is_window(self) -> bool:
        return self.unit_level == "acceptance_point" and self.has("service")


def _redis() -> redis.Redis:
    return current_app.extensions["window_redis"]  # type: ignore[no-any-return]


def _sid() -> str:
    return str(session.sid)  # type: ignore[attr-defined]


def person() -> Person | None:
    data = session.get("person")
    return Person(**{**data, "roles": tuple(data["roles"])}) if data else None


def sign_in(username: str, password: str) -> Person:
    """Exchange a username and password for tokens and open a new session for the person."""
    org = apis()["org"]
    answer = org.call(
        "POST", "/auth/token", None, json={"username": username, "password": password}
    )
    if answer.status_code != 200:
        raise problem_of(answer)
    tokens = answer.json()
    me = org.call("GET", "/me", tokens["access_token"])
    if me.status_code != 200:
        raise problem_of(me)
    current_app.session_interface.renew(session)  # type: ignore[attr-defined]
    session.clear()
    data = me.json()
    session["person"] = {
        key: data[key]
        for key in ("staff_id", "username", "unit_code", "unit_path", "unit_level", "unit_state")
    } | {"roles": sorted(data["roles"])}
    _store(tokens)
    return cast(Person, person())


def sign_out() -> None:
    """Revoke the sign-in at org (every token of it dies at once) and forget the session."""
    stored = _tokens()
    if stored:
        # Org unreachable: the tokens still expire; the session goes regardless.
        with contextlib.suppress(ApiError):
            body = {"refresh_token": stored["refresh"]}
            apis()["org"].call("POST", "/auth/revoke", None, json=body)
    _redis().delete(TOKENS.format(_sid()))
    session.clear()


def _store(tokens: dict[str, Any]) -> None:
    value = {
        "access": tokens["access_token"],
        "refresh": tokens["refresh_token"],
        "expires_at": time.time() + int(tokens["expires_in"]),
    }
    idle = current_app.config["CB_SETTINGS"].window_idle_seconds
    _redis().set(TOKENS.format(_sid()), json.dumps(value), ex=idle)


def _tokens() -> dict[str, Any] | None:
    raw = _redis().get(TOKENS.format(_sid()))
    return json.loads(raw) if raw else None


def access_token() -> str:
    """A live access token for the person, refreshed first when it is about to expire."""
    stored = _tokens()
    if stored is None or session.get("person") is None:
        raise SignInAgain()
    if stored["expires_at"] - time.time() > REFRESH_BEFORE:
        return str(stored["access"])
    return refresh(stored["access"])


def refresh(stale: str) -> str:
    """Replace the access token ``stale`` once, under the session's lock; a request that finds
    the lock taken waits for the one holding it and takes its result."""
    lock = LOCK.format(_sid())
    if _redis().set(lock, "1", nx=True, px=LOCK_MS):
        try:
            return _refresh_now(stale)
        finally:
            _redis().delete(lock)
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        time.sleep(0.05)
        stored = _tokens()
        if stored and stored["access"] != stale:
            return str(stored["access"])
    raise SignInAgain()


def _refresh_now(stale: str) -> str:
    stored = _tokens()
    if stored is None:
        raise SignInAgain()
    if stored["access"] != stale:  # refreshed by another request just before the lock
        return str(stored["access"])
    answer = apis()["org"].call(
        "POST", "/auth/refresh", None, json={"refresh_token": stored["refresh"]}
    )
    if answer.status_code in (401, 403):
        # The sign-in is over at org (deactivated, revoked, suspended): the session that
        # held it goes too, so no page shows the person as still signed in.
        _redis().delete(TOKENS.format(_sid()))
        session.clear()
    if answer.status_code != 200:
        raise SignInAgain()
    _store(answer.json())
    return str(answer.json()["access_token"])


def call(service: str, method: str, path: str, **kw: Any) -> Any:
    """The API's answer to the signed-in person (JSON, or the response itself with
    ``raw=True``); ``ApiError`` for a refusal. A 401 gets one refresh and one retry."""
    raw = kw.pop("raw", False)
    api = apis()[service]
    token = access_token()
    answer = api.call(method, path, token, **kw)
    if answer.status_code == 401:
        answer = api.call(method, path, refresh(token), **kw)
        if answer.status_code == 401:
            raise SignInAgain()
    if answer.status_code >= 400:
        raise problem_of(answer)
    if raw:
        return answer
    return answer.json() if answer.content else None


F = TypeVar("F", bound=Callable[..., Any])


def required(*roles: str, window: bool = False) -> Callable[[F], F]:
    """A view for signed-in people (with one of ``roles``, or at an OPERATING point's window
    when ``window``): anyone else is sent to sign in, or told what they lack."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            who = person()
            if who is None:
                raise SignInAgain()
            if roles and not who.has(*roles):
                raise ApiError(403, "您的账号没有办理此项业务的权限。")
            if window and not who.is_window:
                raise ApiError(403, "此项业务由受理点服务窗口人员办理。")
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorate
