"""The window's own static files are addressed by their content and cached for a year, and
a request for one never touches the person's session; each page starts the session's idle
timeout again. And the window's own script and styles use nothing the windows' browsers
(Chromium 80 and newer) lack."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from flask.testing import FlaskClient

STATIC = Path(__file__).resolve().parents[2] / "services" / "window" / "static"
LINKED = re.compile(r'(?:href|src)="(/static/[^"?]+)\?v=([0-9a-f]+)"')


@pytest.fixture
def window(run_env: dict[str, str]) -> Iterator[FlaskClient]:
    from services.window.app import create_app

    yield create_app().test_client()


def sessions(run_env: dict[str, str]) -> set[bytes]:
    return set(redis.Redis.from_url(run_env["CB_REDIS_URL"]).scan_iter("cb:window:session:*"))


def test_a_page_links_its_files_by_their_content(window: FlaskClient) -> None:
    page = window.get("/login").get_data(as_text=True)
    linked = LINKED.findall(page)
    assert {path for path, _ in linked} >= {"/static/app.css", "/static/app.js"}
    for path, version in linked:
        content = (STATIC / path.removeprefix("/static/")).read_bytes()
        assert version == hashlib.sha256(content).hexdigest()[:12]


def test_a_file_of_the_current_version_is_cached_for_a_year_without_a_session(
    window: FlaskClient, run_env: dict[str, str]
) -> None:
    path, version = next(
        (p, v) for p, v in LINKED.findall(window.get("/login").get_data(as_text=True))
        if p == "/static/app.js"
    )  # fmt: skip
    before = sessions(run_env)
    fresh = window.__class__(window.application)  # a browser with no cookie yet
    answer = fresh.get(f"{path}?v={version}")
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "Set-Cookie" not in answer.headers
    assert sessions(run_env) == before
    stale = fresh.get(f"{path}?v=000000000000")
    assert stale.status_code == 200 and stale.headers["Cache-Control"] == "no-cache"


def test_each_page_starts_the_sessions_idle_timeout_again(
    window: FlaskClient, run_env: dict[str, str]
) -> None:
    client = redis.Redis.from_url(run_env["CB_REDIS_URL"])
    assert window.get("/login").status_code == 200  # the sign-in form makes its CSRF token
    cookie = window.get_cookie("cbw")
    assert cookie is not None
    key = f"cb:window:session:{cookie.value}"
    stored = client.get(key)
    client.expire(key, 5)
    assert window.get("/login").status_code == 200
    assert client.ttl(key) > 5 and client.get(key) == stored


# What Chromium 80 lacks (each with the version that brought it), in our own files: syntax
# it cannot parse, functions it does not have, selectors and properties it ignores.
TOO_NEW_SCRIPT = {
    r"\|\|=|&&=|\?\?=": "logical assignment (85)",
    r"\.replaceAll\(": "String.replaceAll (85)",
    r"\.at\(": "Array/String.at (92)",
    r"\bstructuredClone\b": "structuredClone (98)",
    r"\bObject\.hasOwn\b": "Object.hasOwn (93)",
    r"\.findLast(Index)?\(": "findLast (97)",
    r"\bPromise\.any\b": "Promise.any (85)",
    r"\bstatic\s*\{": "static blocks (94)",
    r"\.toSorted\(|\.toReversed\(": "change-array-by-copy (110)",
}
TOO_NEW_STYLE = {
    r":is\(|:where\(|:has\(": ":is/:where (88), :has (105)",
    r"\baspect-ratio\s*:": "aspect-ratio (88)",
    r"(?<![-\w])inset\s*:": "inset (87)",
    r"@container|@layer": "container queries (105), cascade layers (99)",
    r"\bcolor-mix\(|\baccent-color\s*:": "color-mix (111), accent-color (93)",
    r":focus-visible": ":focus-visible (86)",
}


def test_our_script_and_styles_need_nothing_newer_than_chromium_80() -> None:
    found = []
    for path in sorted(STATIC.glob("*.js")):
        text = path.read_text()
        found += [f"{path.name}: {why}" for rule, why in TOO_NEW_SCRIPT.items()
                  if re.search(rule, text)]  # fmt: skip
    for path in sorted(STATIC.glob("*.css")):
        text = path.read_text()
        found += [f"{path.name}: {why}" for rule, why in TOO_NEW_STYLE.items()
                  if re.search(rule, text)]  # fmt: skip
    assert not found, found
