"""The window's sessions and tokens, against the running system: the session cookie holds an
id only, a form without the session's CSRF token changes nothing, a page's requests arriving
together refresh the token once (org's refresh spends the old one: a second refresh would
revoke the whole sign-in), signing out kills the tokens at every service."""

from __future__ import annotations

import json
import re
import threading
import time
from typing import Any

import psycopg
import redis
import requests

from tests.factories import mobile, resident_id
from tests.window.conftest import PASSWORD, World
from tests.window.system import System

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def signed_in(system: System, username: str) -> requests.Session:
    """A browser-like client signed in through the sign-in form."""
    http = requests.Session()
    page = http.get(f"{system.url('window')}/login")
    token = CSRF.search(page.text)
    assert token, "the sign-in form carries a CSRF token"
    answer = http.post(
        f"{system.url('window')}/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)},
        allow_redirects=False,
    )
    assert answer.status_code == 303, answer.text[:500]
    return http


def stored_tokens(run_env: dict[str, str], http: requests.Session) -> tuple[str, dict[str, Any]]:
    client = redis.Redis.from_url(run_env["CB_REDIS_URL"])
    sid = http.cookies.get("cbw")
    raw = client.get(f"cb:window:tokens:{sid}")
    assert raw is not None
    return f"cb:window:tokens:{sid}", json.loads(raw)


def test_the_cookie_holds_an_id_only_httponly_and_samesite(system: System, world: World) -> None:
    clerk = world.operating_point("S002")["service"]
    http = requests.Session()
    page = http.get(f"{system.url('window')}/login")
    cookie = page.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    signed = signed_in(system, clerk)
    value = signed.cookies.get("cbw") or ""
    assert len(value) == 43 and clerk not in value  # a random id, nothing of the person
    assert value != http.cookies.get("cbw")  # a new id at sign-in


def test_a_form_without_the_sessions_csrf_token_changes_nothing(
    system: System, world: World, run_env: dict[str, str]
) -> None:
    point = world.operating_point("S002")
    http = signed_in(system, point["service"])
    body = {"document_type": "resident_id", "document_number": resident_id(), "name": "张三",
            "phone": mobile(), "verification_method": "card_reader"}  # fmt: skip
    url = run_env["CB_INTAKE_DATABASE_URL"].replace("+psycopg", "")

    def taken() -> int:
        with psycopg.connect(url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM applications WHERE unit_code = %s", (point["code"],)
            ).fetchone()
        return int(row[0]) if row else 0

    for token in (None, "forged"):
        data = {**body, **({"csrf_token": token} if token else {})}
        answer = http.post(f"{system.url('window')}/accounts/new", data=data)
        assert answer.status_code == 400 and "表单已过期或来源不明" in answer.text
    assert taken() == 0
    form = http.get(f"{system.url('window')}/accounts/new").text
    found = CSRF.search(form)
    assert found
    answer = http.post(
        f"{system.url('window')}/accounts/new", data={**body, "csrf_token": found.group(1)}
    )
    assert answer.status_code == 200 and "受理回执" in answer.text  # the same form, with it
    assert taken() == 1


def test_requests_arriving_together_refresh_the_token_once(
    system: System, world: World, run_env: dict[str, str]
) -> None:
    point = world.operating_point("S002")
    http = signed_in(system, point["service"])
    key, tokens = stored_tokens(run_env, http)
    client = redis.Redis.from_url(run_env["CB_REDIS_URL"])
    client.set(key, json.dumps({**tokens, "expires_at": time.time() + 5}), keepttl=True)
    statuses: list[int] = []

    def open_home() -> None:
        statuses.append(http.get(f"{system.url('window')}/", allow_redirects=False).status_code)

    threads = [threading.Thread(target=open_home) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [200] * 6  # nobody sent back to sign in
    _, after = stored_tokens(run_env, http)
    assert after["access"] != tokens["access"] and after["expires_at"] > time.time() + 60
    url = run_env["CB_ORG_DATABASE_URL"].replace("+psycopg", "")
    with psycopg.connect(url) as conn:
        minted = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE f.revoked_at IS NOT NULL) "
            "FROM refresh_tokens r JOIN token_families f ON f.id = r.family_id "
            "JOIN staff s ON s.id = f.staff_id WHERE s.username = %s",
            (point["service"],),
        ).fetchone()
    assert minted == (2, 0)  # the sign-in's token and exactly one successor; not revoked
    assert http.get(f"{system.url('window')}/", allow_redirects=False).status_code == 200


def test_signing_out_kills_the_tokens_everywhere(
    system: System, world: World, run_env: dict[str, str]
) -> None:
    point = world.operating_point("S002")
    http = signed_in(system, point["service"])
    _, tokens = stored_tokens(run_env, http)
    intake = f"{system.url('intake')}/api/v1/applications"
    bearer = {"Authorization": f"Bearer {tokens['access']}"}
    assert requests.get(intake, headers=bearer, timeout=10).status_code == 200
    home = http.get(f"{system.url('window')}/")
    token = CSRF.search(home.text)
    assert token
    answer = http.post(
        f"{system.url('window')}/logout", data={"csrf_token": token.group(1)}, allow_redirects=False
    )
    assert answer.status_code == 303
    assert requests.get(intake, headers=bearer, timeout=10).status_code == 401
    again = http.get(f"{system.url('window')}/", allow_redirects=False)
    assert again.status_code == 303 and "/login" in again.headers["Location"]
