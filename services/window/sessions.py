"""Sessions kept server-side in Redis, behind an HttpOnly, SameSite cookie holding only a
random id; and the CSRF token every state-changing request must carry.

The session holds the signed-in person's tokens (access and refresh), never their password,
and never personal data of learners: pages are rendered from the APIs on each request. An
idle session expires after ``window_idle_seconds`` (a shared window PC is left alone); a
sign-in gets a new id, so an id seen before sign-in is worth nothing after it.
"""

from __future__ import annotations

import hmac
import json
import secrets
from typing import Any

import redis
from flask import Flask, Request, Response, abort, request, session
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

KEY = "cb:window:session:{}"
CSRF_FIELD, CSRF_HEADER = "csrf_token", "X-CSRF-Token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class ServerSession(CallbackDict[str, Any], SessionMixin):
    def __init__(self, sid: str, data: dict[str, Any] | None = None, new: bool = False):
        def changed(_: Any) -> None:
            self.modified = True

        super().__init__(data or {}, changed)
        self.sid, self.new, self.modified = sid, new, False


class RedisSessions(SessionInterface):
    """Flask's session interface over Redis: one JSON value per session, its TTL the idle
    timeout, renewed on every request that uses it."""

    def __init__(self, client: redis.Redis, idle_seconds: int, cookie: str, secure: bool):
        self.redis, self.idle, self.cookie, self.secure = client, idle_seconds, cookie, secure

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        if request.path.startswith(f"{app.static_url_path}/"):
            return ServerSession("", new=True)  # a file: no session read, none written
        sid = request.cookies.get(self.cookie, "")
        if len(sid) == 43:  # token_urlsafe(32)
            raw = self.redis.get(KEY.format(sid))
            if raw is not None:
                return ServerSession(sid, json.loads(raw))
        return ServerSession(secrets.token_urlsafe(32), new=True)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        assert isinstance(session, ServerSession)
        if not session and session.new:
            return  # nothing worth keeping: no cookie, no key
        if not session:
            self.redis.delete(KEY.format(session.sid))
            response.delete_cookie(self.cookie, path="/")
            return
        key = KEY.format(session.sid)
        # Unchanged (most pages): only its idle timeout starts again.
        if session.modified or session.new or not self.redis.expire(key, self.idle):
            self.redis.set(key, json.dumps(dict(session)), ex=self.idle)
        response.set_cookie(
            self.cookie,
            session.sid,
            max_age=self.idle,
            path="/",
            httponly=True,
            secure=self.secure,
            samesite="Lax",
        )

    def renew(self, session: ServerSession) -> None:
        """A new id for the same session (at sign-in): the old one is forgotten."""
        self.redis.delete(KEY.format(session.sid))
        session.sid, session.new, session.modified = secrets.token_urlsafe(32), True, True


def csrf_token() -> str:
    """The session's CSRF token, made when first asked for (every form renders it)."""
    token = session.get("csrf")
    if token is None:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return str(token)


def check_csrf() -> None:
    """Every state-changing request carries the session's token, as a form field (a plain
    POST) or a header (htmx): anything else is refused before a view runs."""
    if request.method not in UNSAFE:
        return
    sent = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD, "")
    expected = session.get("csrf")
    if not expected or not hmac.compare_digest(str(sent), str(expected)):
        abort(400, description="表单已过期或来源不明，请刷新页面后重试。")


def init_app(app: Flask, client: redis.Redis, idle_seconds: int, production: bool) -> None:
    # The __Host- prefix makes the browser refuse the cookie unless it is Secure, host-only and
    # path /: only over HTTPS, so only in production.
    cookie = "__Host-cbw" if production else "cbw"
    app.session_interface = RedisSessions(client, idle_seconds, cookie, secure=production)
    app.before_request(check_csrf)
    app.jinja_env.globals["csrf_token"] = csrf_token
