"""Browser tests: Playwright driving Debian's Chromium (never a browser it downloads) against
the whole system running (``tests/window/system.py``), as the people who use it click.

The browser must be there: `make test` installs it (deploy/ensure-packages.sh), and a test
fails, never skips, when it is missing. Every page a test visits can be checked by axe-core
(``assert_accessible``) and for characters drawn as empty boxes (``assert_no_tofu``).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from playwright.sync_api import Page

from tests.window.system import Client, System

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
AXE = Path(__file__).parent / "vendor" / "axe-4.14.1.min.js"
PASSWORD = "pass-word-123"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (deploy/ensure-packages.sh)")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        # The machine's network is closed: no background calls home to wait on or fail.
        "args": ["--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-quic"],
    }  # fmt: skip


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any], system: System) -> dict[str, Any]:
    return {
        **browser_context_args,
        "base_url": system.url("window"),
        "locale": "zh-CN",
        "timezone_id": "Asia/Shanghai",
    }


def _clean(run_env: dict[str, str]) -> None:
    """Start from empty tables (other packages' tests ran on the same databases) and an
    empty Redis DB; the org tree loaded and review's routes seeded, as bootstrap does."""
    from services.org import tree
    from services.org.context import worker_db as org_db
    from services.review.context import worker_db as review_db
    from services.review.routing import seed_routes

    for service in ("org", "intake", "review", "notify"):
        url = run_env[f"CB_{service.upper()}_DATABASE_URL"].replace("+psycopg", "")
        with psycopg.connect(url, autocommit=True) as conn:
            tables = [r[0] for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version'")]  # fmt: skip
            conn.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    redis.Redis.from_url(run_env["CB_REDIS_URL"]).flushdb()
    with org_db().transaction() as session:
        tree.load_tree(session)
    with review_db().transaction() as session:
        seed_routes(session)


@pytest.fixture(scope="session")
def system(run_env: dict[str, str]) -> Iterator[System]:
    _clean(run_env)
    running = System(run_env).start()
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def _tails_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    """A failed test against the running system prints the end of every process's log."""
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed and "system" in request.fixturenames:
        print(request.getfixturevalue("system").tails())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


class World:
    """What a journey starts from, made through the APIs as their clients would: the
    provincial centre's administrator, staff of any unit, acceptance points brought to
    OPERATING with their staff."""

    def __init__(self, system: System) -> None:
        self.system, self.serial = system, 0
        self.admin = self.sign_in(self._first_admin())

    def _first_admin(self) -> str:
        from services.org import accounts, config
        from services.org.context import build_context, worker_db

        ctx = build_context(config.settings())
        with worker_db().transaction() as session:
            accounts.ensure_first_admin(session, ctx, "province-admin", PASSWORD, "省中心管理员")
        return "province-admin"

    def api(self, service: str, token: str | None) -> Client:
        return Client(self.system.url(service), token)

    def sign_in(self, username: str) -> str:
        answer = self.api("org", None).ok(
            "POST", "/auth/token", {"username": username, "password": PASSWORD}
        )
        return str(answer["access_token"])

    def next(self) -> int:
        self.serial += 1
        return self.serial

    def staff(self, unit: str, role: str, by: str | None = None, name: str | None = None) -> str:
        """A new account of ``unit`` with ``role`` (made by ``by``'s token, the province
        administrator's by default); its username."""
        username = name or f"{unit.lower()}-{role}-{self.next()}"
        self.api("org", by or self.admin).ok(
            "POST",
            "/staff",
            {"username": username, "display_name": username, "unit_code": unit,
             "roles": [role], "password": PASSWORD},
        )  # fmt: skip
        return username

    def operating_point(self, parent: str = "S001") -> dict[str, str]:
        """A point under ``parent`` brought to OPERATING through every step; its code and
        the usernames of its admin, service clerk and reviewer."""
        n = self.next()
        bureau = self.sign_in(self.staff(parent, "bureau"))
        point = self.api("org", bureau).ok(
            "POST",
            "/acceptance-points",
            {"name": f"社区学校{n}", "parent_code": parent, "point_kind": "community_school",
             "point_tier": "township"},
        )["code"]  # fmt: skip
        manager = self.sign_in(self.staff(parent, "management"))
        admin_name = f"{point.lower()}-admin"
        allocated = self.api("org", manager).ok(
            "POST",
            f"/acceptance-points/{point}/allocation",
            {"admin_username": admin_name, "admin_display_name": "管理员"},
        )
        self.api("org", None).ok(
            "POST",
            "/activation",
            {"username": admin_name, "activation_code": allocated["activation_code"],
             "password": PASSWORD},
        )  # fmt: skip
        admin = self.sign_in(admin_name)
        people = {"code": point, "admin": admin_name}
        for role in ("management", "technical", "service", "reviewer"):
            people[role] = self.staff(point, role, by=admin, name=f"{point.lower()}-{role}")
        self.api("org", admin).ok(
            "PUT",
            f"/acceptance-points/{point}/window",
            {"address": "杭州市上城区解放路1号", "opening_hours": "周一至周五 9:00-17:00"},
        )
        self.api("org", admin).ok("POST", f"/acceptance-points/{point}/start")
        return people


@pytest.fixture(scope="session")
def world(system: System) -> World:
    return World(system)


def sign_in(page: Page, username: str, password: str = PASSWORD) -> None:
    """Sign in through the page, as a clerk does."""
    page.goto("/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/")


def assert_accessible(page: Page) -> None:
    """axe-core finds no WCAG 2.1 A/AA violation on the page as it stands."""
    # Evaluated through the browser's debugging protocol: the pages' CSP (no inline script)
    # stays as strict as it is for the people using them.
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())
    found = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS
    )
    violations = [
        {"id": v["id"], "impact": v["impact"], "help": v["help"],
         "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in found["violations"]
    ]  # fmt: skip
    assert not violations, f"{page.url}: " + json.dumps(violations, ensure_ascii=False, indent=1)


TOFU_CHECK = """
() => {
  const font = getComputedStyle(document.body).fontFamily;
  const draw = (text) => {
    const canvas = document.createElement('canvas');
    canvas.width = 64; canvas.height = 64;
    const context = canvas.getContext('2d');
    context.font = '48px ' + font;
    context.fillText(text, 4, 52);
    return Array.from(context.getImageData(0, 0, 64, 64).data).join(',');
  };
  const missing = draw('\\u{10FFFD}');  // no font holds it: the missing-glyph box
  const text = document.body.innerText.replace(/[\\s\\x00-\\x7f]/g, '');
  const boxes = [...new Set(text)].filter((ch) => draw(ch) === missing);
  return {checked: new Set(text).size, boxes};
}
"""


def assert_no_tofu(page: Page) -> None:
    """Every Chinese character of the page has a glyph: none is drawn as the empty box a
    missing font leaves (the machine needs fonts-noto-cjk)."""
    found = page.evaluate(TOFU_CHECK)
    assert found["checked"] > 0, "no Chinese text on the page to check"
    assert not found["boxes"], f"drawn as boxes (a CJK font is missing): {found['boxes']}"


def check_page(page: Page) -> None:
    assert_accessible(page)
    assert_no_tofu(page)
