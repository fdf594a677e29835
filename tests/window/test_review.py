"""The review desk in the browser, through the real services and workers, each person in a
browser of their own: a deposit returned and resubmitted, a rejection (and a decision
without a reason refused beside its field), many cases decided at once with one refused, a
claim keeping a colleague off a case until it is released, the evidence itself in the page
(and 404 to a reviewer elsewhere), the backlog and the assessment with its exports.

What a journey starts from (a point, its learners, their applications) is made through the
APIs; what the people do is done in the pages. Waiting is for what the system shows: an
API's state polled, or the page's own text."""

from __future__ import annotations

import csv
import io
import re
import struct
import zlib
from datetime import datetime
from pathlib import Path
from typing import Any

import requests
from openpyxl import load_workbook
from playwright.sync_api import Browser, Page, expect

from shared.clock import CHINA
from tests.factories import PDF, mobile, resident_id
from tests.helpers import wait_for
from tests.window.conftest import World, check_page, sign_in

# The image's transform, once its transition has run, is a quarter turn clockwise.
QUARTER_TURNED = """() => {
  const m = new DOMMatrix(getComputedStyle(document.getElementById('ev-2')).transform);
  return Math.abs(m.a) < 1e-6 && Math.abs(m.b - 1) < 1e-6;
}"""
WHEN = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}")  # a time as the pages show it


def png(width: int = 40, height: int = 20) -> bytes:
    """A real PNG a browser draws: left half red, right half blue (a turn shows)."""
    row = b"".join(b"\xff\x00\x00" if x < width // 2 else b"\x00\x00\xff" for x in range(width))
    raw = b"".join(b"\x00" + row for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


class Point:
    """An OPERATING point with its people, and what its clerk and reviewer do through the
    APIs to make a journey's starting point."""

    def __init__(self, world: World, parent: str = "S001") -> None:
        self.world = world
        self.people = world.operating_point(parent)
        self.code = self.people["code"]
        self.name = world.api("org", world.admin).ok("GET", f"/units/{self.code}")["name"]

    def token(self, role: str) -> str:
        return self.world.sign_in(self.people[role])

    def colleague(self, role: str = "reviewer") -> str:
        """Another staff member of the point with ``role``; their username."""
        return self.world.staff(self.code, role, by=self.token("admin"))

    def opening(self) -> str:
        """An account-opening application taken by the clerk; its id."""
        learner = {
            "document_type": "resident_id",
            "document_number": resident_id("19880515"),
            "name": "王小明",
            "phone": mobile(),
            "verification_method": "documents_in_person",
        }
        return str(
            self.world.api("intake", self.token("service")).ok("POST", "/accounts", learner)["id"]
        )

    def account(self) -> str:
        """A learner with an open account (opened, approved by the point's reviewer); its
        number."""
        application = self.opening()
        self.decide(application, "approve")
        return str(self.wait_application(application, "approved")["account_number"])

    def deposit(self, account: str, evidence: list[bytes] | None = None, hours: str = "48") -> str:
        """A social-training deposit into ``account`` with its evidence; its id."""
        clerk = self.token("service")
        shas = [self.upload(clerk, content) for content in (evidence or [PDF])]
        body = {
            "account_number": account,
            "outcome_kind": "social_training",
            "outcome": {
                "organiser": "杭州市职业技能培训中心",
                "programme": "电工初级培训",
                "hours": hours,
                "start_date": "2026-03-01",
                "end_date": "2026-03-20",
                "certificate_number": f"PX-{self.code}-{self.world.next()}",
            },
            "attachments": shas,
        }
        return str(self.world.api("intake", clerk).ok("POST", "/applications", body)["id"])

    def upload(self, token: str, content: bytes) -> str:
        answer = requests.post(
            f"{self.world.system.url('intake')}/api/v1/attachments",
            headers={"Authorization": f"Bearer {token}"},
            files={"file": ("scan", content)},
            timeout=30,
        )
        assert answer.status_code in (200, 201), answer.text
        return str(answer.json()["sha256"])

    def wait_case(self, application: str, reviewer: str | None = None) -> dict[str, Any]:
        """The open case of ``application`` once it has reached ``reviewer``'s inbox (the
        point's reviewer by default): it travels through a queue."""
        review = self.world.api("review", self.world.sign_in(reviewer or self.people["reviewer"]))

        def arrived() -> dict[str, Any] | None:
            page = review.ok("GET", f"/inbox?point={self.code}&per_page=100")
            return next((c for c in page["items"] if c["application_id"] == application), None)

        return dict(wait_for(arrived, timeout=30))

    def decide(self, application: str, decision: str, reviewer: str | None = None) -> None:
        """The application's open case decided through the API (a step a test only needs
        done, not watched)."""
        case = self.wait_case(application, reviewer)
        review = self.world.api("review", self.world.sign_in(reviewer or self.people["reviewer"]))
        review.ok("POST", f"/cases/{case['id']}/decision", {"decision": decision})

    def wait_application(self, application: str, status: str) -> dict[str, Any]:
        """The application once intake has applied a decision that ends in ``status``."""
        intake = self.world.api("intake", self.token("service"))

        def applied() -> dict[str, Any] | None:
            found = intake.ok("GET", f"/applications/{application}")
            return found if found["status"] == status else None

        return dict(wait_for(applied, timeout=30))


def browser_of(browser: Browser, context_args: dict[str, Any], username: str) -> Page:
    """A browser of its own for a person (their own session cookie), signed in."""
    page = browser.new_context(**context_args).new_page()
    sign_in(page, username)
    return page


def open_case(page: Page, point: Point, application: str) -> None:
    """From the inbox (filtered to the point), the case of ``application``."""
    page.goto(f"/review/inbox?point={point.code}")
    page.locator(f"tr[data-application='{application}']").get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("审核：")


def decide_in_page(page: Page, decision: str, reason: str = "", rows: str = "") -> None:
    page.get_by_role("radio", name=re.compile(f"^{decision}")).check()
    if reason:
        page.get_by_label(re.compile("^理由")).fill(reason)
    if rows:
        page.get_by_label(re.compile("不予记入")).fill(rows)
    page.get_by_role("button", name="提交审核意见").click()


def test_a_return_and_a_resubmission(
    page: Page, browser: Browser, browser_context_args: dict[str, Any], world: World
) -> None:
    point = Point(world, "S003")
    upper = world.staff("S003", "reviewer")
    application = point.deposit(point.account(), hours="84")  # the certificate says 48
    point.wait_case(application)

    # The point's reviewer returns it, saying what to correct.
    reviewer = browser_of(browser, browser_context_args, point.people["reviewer"])
    open_case(reviewer, point, application)
    expect(reviewer.get_by_test_id("application-data")).to_contain_text("学时84")
    check_page(reviewer)
    decide_in_page(reviewer, "退回补正", "学时与结业证书不符：证书为 48 学时，请改正")
    expect(reviewer.get_by_role("status").first).to_contain_text("退回补正")
    check_page(reviewer)

    # The clerk finds it first on her workbench, corrects the hours and sends it again.
    point.wait_application(application, "returned")
    sign_in(page, point.people["service"])
    returned = page.get_by_role("region", name="退回补正，待处理")
    expect(returned).to_contain_text("社会培训")
    check_page(page)
    returned.get_by_role("link", name="补正").click()
    expect(page.get_by_role("status")).to_contain_text("证书为 48 学时")
    expect(page.get_by_label("学时")).to_have_value(re.compile(r"^84"))
    check_page(page)
    page.get_by_label("学时").fill("48")
    page.get_by_role("button", name="重新提交").click()
    expect(page.get_by_role("heading", name="受理回执")).to_be_visible()

    # Round 2: the point's reviewer sees round 1's return, and approves; the sub-centre too.
    point.wait_case(application)
    open_case(reviewer, point, application)
    expect(reviewer.get_by_test_id("earlier")).to_contain_text("第 1 轮 · 受理点 · 退回补正")
    expect(reviewer.get_by_test_id("application-data")).to_contain_text("学时48")
    check_page(reviewer)
    decide_in_page(reviewer, "通过")
    expect(reviewer.get_by_role("status").first).to_contain_text("已报送上一级")
    point.wait_case(application, upper)
    sub_centre = browser_of(browser, browser_context_args, upper)
    open_case(sub_centre, point, application)
    expect(sub_centre.get_by_test_id("earlier")).to_contain_text(
        "第 2 轮 · 受理点 · 审核通过，报送上级"
    )
    check_page(sub_centre)
    decide_in_page(sub_centre, "通过")

    # The timeline: every step, with who and when.
    point.wait_application(application, "approved")
    page.goto(f"/applications/{application}")
    expect(page.get_by_test_id("status")).to_have_text("已通过（第 2 轮）")
    steps = page.get_by_test_id("timeline").get_by_role("listitem")
    expected = [
        ("受理", point.people["service"]),
        ("退回补正", point.people["reviewer"]),
        ("补正后重新提交", point.people["service"]),
        ("审核通过，报送上级", point.people["reviewer"]),
        ("审核通过", upper),
    ]
    expect(steps).to_have_count(len(expected))
    for step, (what, who) in zip(steps.all(), expected, strict=True):
        text = step.inner_text()
        assert text.startswith(what) and who in text and WHEN.search(text), text
    expect(steps.nth(1)).to_contain_text("理由：学时与结业证书不符")
    check_page(page)


def test_a_rejection_and_no_decision_without_a_reason(
    page: Page, browser: Browser, browser_context_args: dict[str, Any], world: World
) -> None:
    point = Point(world, "S003")
    application = point.deposit(point.account())
    case = point.wait_case(application)
    reviewer = browser_of(browser, browser_context_args, point.people["reviewer"])
    open_case(reviewer, point, application)

    # Without a reason, a rejection and a return are refused beside the reason field.
    for decision in ("不通过", "退回补正"):
        decide_in_page(reviewer, decision)
        expect(reviewer.locator("#f-reason-note")).to_have_text("请填写理由")
        expect(reviewer.get_by_label(re.compile("^理由"))).to_have_attribute("aria-invalid", "true")
        expect(reviewer.get_by_test_id("case-status")).to_have_text("待领取")
        check_page(reviewer)
    review = world.api("review", point.token("reviewer"))
    assert review.ok("GET", f"/cases/{case['id']}")["status"] == "pending"  # nothing decided

    decide_in_page(reviewer, "不通过", "结业证书编号与培训机构的记录不符")
    expect(reviewer.get_by_role("status").first).to_contain_text("不通过")

    point.wait_application(application, "rejected")
    sign_in(page, point.people["service"])
    page.goto(f"/applications/{application}")
    expect(page.get_by_test_id("status")).to_contain_text("未通过")
    expect(page.get_by_test_id("timeline")).to_contain_text(
        "理由：结业证书编号与培训机构的记录不符"
    )
    check_page(page)


def test_many_cases_at_once_one_decided_meanwhile_elsewhere(
    browser: Browser, browser_context_args: dict[str, Any], world: World
) -> None:
    point = Point(world)
    colleague = point.colleague()
    openings = [point.opening() for _ in range(4)]
    for application in openings:
        point.wait_case(application)

    reviewer = browser_of(browser, browser_context_args, point.people["reviewer"])
    reviewer.goto(f"/review/inbox?point={point.code}")
    for application in openings:
        reviewer.locator(f"tr[data-application='{application}']").get_by_role("checkbox").check()
    check_page(reviewer)

    # Meanwhile a colleague, in her own browser, approves one of them.
    other = browser_of(browser, browser_context_args, colleague)
    open_case(other, point, openings[2])
    decide_in_page(other, "通过")
    expect(other.get_by_role("status").first).to_contain_text("已审核")

    reviewer.get_by_label("审核意见").select_option("approve")
    reviewer.get_by_role("button", name="批量审核").click()
    results = reviewer.get_by_test_id("batch-results")
    expect(results).to_contain_text("已审核 3 件，未能审核 1 件")
    refused = results.get_by_test_id("refused")
    expect(refused).to_have_count(1)
    expect(refused).to_contain_text(f"开户申请（{point.code}")
    expect(refused).to_contain_text("该案件已审核完毕")
    expect(refused).to_contain_text(f"{colleague} 已于")
    expect(reviewer.get_by_test_id("pending")).to_have_text("0")
    check_page(reviewer)
    for application in openings:
        point.wait_application(application, "approved")


def test_a_claim_keeps_a_colleague_off_until_it_is_released(
    browser: Browser, browser_context_args: dict[str, Any], world: World
) -> None:
    point = Point(world)
    colleague = point.colleague()
    application = point.opening()
    point.wait_case(application)
    mine = browser_of(browser, browser_context_args, point.people["reviewer"])
    open_case(mine, point, application)
    mine.get_by_role("button", name=re.compile("^领取")).click()
    expect(mine.get_by_role("status").first).to_contain_text("已领取")
    expect(mine.get_by_test_id("case-status")).to_contain_text(f"{point.people['reviewer']} 办理中")
    check_page(mine)

    # The colleague sees it claimed, and her decision is refused as the API refuses it.
    theirs = browser_of(browser, browser_context_args, colleague)
    theirs.goto(f"/review/inbox?point={point.code}")
    row = theirs.locator(f"tr[data-application='{application}']")
    expect(row.get_by_test_id("case-state")).to_have_text(f"{point.people['reviewer']} 办理中")
    check_page(theirs)
    row.get_by_role("link").click()
    expect(theirs.get_by_role("button", name=re.compile("^领取"))).to_have_count(0)
    decide_in_page(theirs, "通过")
    expect(theirs.get_by_role("alert").first).to_contain_text(
        f"该案件已由 {point.people['reviewer']} 领取"
    )
    expect(theirs.get_by_role("alert").first).to_contain_text("前其他人不能办理")
    check_page(theirs)

    # Released, it is back in the inbox for anyone of the point.
    mine.get_by_role("button", name="放回待办").click()
    expect(mine.get_by_role("status").first).to_contain_text("已放回待办")
    theirs.goto(f"/review/inbox?point={point.code}")
    expect(row.get_by_test_id("case-state")).to_have_text("待领取")
    row.get_by_role("link").click()
    decide_in_page(theirs, "通过")
    expect(theirs.get_by_role("status").first).to_contain_text("已审核")


def test_the_evidence_itself_in_the_page(
    browser: Browser, browser_context_args: dict[str, Any], world: World
) -> None:
    point = Point(world)
    scan = png()
    application = point.deposit(point.account(), evidence=[PDF, scan])
    point.wait_case(application)
    reviewer = browser_of(browser, browser_context_args, point.people["reviewer"])
    open_case(reviewer, point, application)

    frame = reviewer.get_by_title("证明材料 1（PDF）")
    image = reviewer.get_by_role("img", name="证明材料 2（图片）")
    sources = {}
    for shown, content_type, content in (
        (frame, "application/pdf", PDF),
        (image, "image/png", scan),
    ):
        src = shown.get_attribute("src")
        assert src
        answer = reviewer.request.get(src)
        assert answer.status == 200 and answer.headers["content-type"] == content_type
        assert answer.body() == content
        sources[content_type] = src
    reviewer.wait_for_function("() => document.getElementById('ev-2').naturalWidth === 40")

    # The image turns a quarter at a time, and says so.
    turn = reviewer.get_by_role("button", name=re.compile("向右旋转 90°"))
    turn.click()
    expect(image).to_have_class(re.compile(r"\bturned-90\b"))
    expect(reviewer.locator("#ev-2-angle")).to_have_text("已旋转 90°")
    reviewer.wait_for_function(QUARTER_TURNED)
    turn.click()
    expect(image).to_have_class(re.compile(r"\bturned-180\b"))
    check_page(reviewer)

    # A reviewer of another sub-centre gets nothing of it, by either address.
    stranger = browser_of(browser, browser_context_args, world.staff("S002", "reviewer"))
    for src in sources.values():
        assert stranger.request.get(src).status == 404
    sha = sources["image/png"].rsplit("/", 1)[1]
    assert stranger.request.get(f"/applications/{application}/evidence/{sha}").status == 404
    stranger.goto(sources["image/png"])
    expect(stranger.get_by_role("heading", level=1)).to_have_text("没有找到")
    check_page(stranger)


def test_the_backlog_and_the_assessment_of_a_sub_centre(
    browser: Browser, browser_context_args: dict[str, Any], world: World
) -> None:
    point = Point(world, "S005")
    for _ in range(2):
        point.account()  # two accounts opened, each decided
    waiting = point.opening()
    point.wait_case(waiting)
    manager = browser_of(browser, browser_context_args, world.staff("S005", "management"))

    manager.get_by_role("link", name="审核情况").click()
    levels = manager.get_by_test_id("backlog-levels")
    expect(levels.locator("tr[data-level='acceptance_point'] td").first).to_have_text("1")
    unit = manager.get_by_test_id("backlog-units").locator(f"tr[data-unit='{point.code}']")
    expect(unit.locator("th")).to_have_text(f"{point.name} {point.code}")
    expect(unit.locator("td").nth(0)).to_have_text("受理点")
    expect(unit.locator("td").nth(1)).to_have_text("1")
    expect(unit.locator("td").nth(4)).to_contain_text("小时")
    check_page(manager)

    manager.get_by_role("link", name="考核统计").click()
    today = datetime.now(CHINA).date().isoformat()  # the range is of China's days
    manager.get_by_label("开始日期").fill(today)
    manager.get_by_label("结束日期").fill(today)
    expect(manager.get_by_label("统计单位")).to_have_value("point")  # a sub-centre sees its points
    manager.get_by_role("button", name="统计").click()
    row = manager.get_by_test_id("assessment").locator(f"tr[data-unit='{point.code}']")
    cells = row.locator("td")
    expect(cells.nth(0)).to_have_text("2")  # accounts opened
    expect(cells.nth(4)).to_have_text("2")  # decided
    expect(cells.nth(7)).to_have_text("0.0000")  # none refused
    chart = manager.get_by_test_id("chart").locator("svg")
    expect(chart).to_have_attribute("role", "img")
    expect(row.locator("th")).to_have_text(f"{point.name} {point.code}")
    expect(chart.locator("text", has_text=point.name)).to_have_count(1)
    expect(chart.locator("rect")).to_have_count(
        manager.get_by_test_id("assessment").locator("tbody tr").count()
    )
    check_page(manager)

    # The exports: the same rows, under Chinese headers.
    with manager.expect_download() as got:
        manager.get_by_role("link", name="导出 CSV").click()
    exported = got.value
    assert exported.suggested_filename == f"assessment-S005-point-{today}-{today}.csv"
    text = Path(exported.path()).read_bytes()
    assert text.startswith(b"\xef\xbb\xbf")
    lines = list(csv.DictReader(io.StringIO(text.decode("utf-8-sig"))))
    mine = next(line for line in lines if line["单位代码"] == point.code)
    assert (mine["开户数"], mine["办结申请数"], mine["不予通过数"]) == ("2", "2", "0")
    with manager.expect_download() as got:
        manager.get_by_role("link", name="导出 Excel").click()
    assert got.value.suggested_filename.endswith(".xlsx")
    book = load_workbook(io.BytesIO(Path(got.value.path()).read_bytes()))
    sheet = book["考核数据"]
    headers = [c.value for c in sheet[1]]
    assert headers[0] == "单位代码" and "开户数" in headers and "得分" in headers
    values = {
        row[0]: dict(zip(headers, row, strict=True))
        for row in sheet.iter_rows(min_row=2, values_only=True)
    }
    assert values[point.code]["开户数"] == 2 and values[point.code]["办结申请数"] == 2
    about = {row[0]: row[1] for row in book["说明"].iter_rows(values_only=True)}
    assert about["单位"] == "S005" and about["起始日期"] == today


def test_the_desk_works_as_plain_forms_without_script(
    browser: Browser, browser_context_args: dict[str, Any], world: World
) -> None:
    """Every form of the desk is a plain POST that works where the browser runs no script.
    (axe-core and the glyph check are scripts themselves: the same screens are checked by
    the tests above.)"""
    point = Point(world)
    first, second = point.opening(), point.opening()
    for application in (first, second):
        point.wait_case(application)
    page = browser.new_context(**browser_context_args, java_script_enabled=False).new_page()
    sign_in(page, point.people["reviewer"])

    open_case(page, point, first)
    page.get_by_role("button", name=re.compile("^领取")).click()
    expect(page.get_by_test_id("case-status")).to_contain_text("办理中")
    page.get_by_role("button", name="放回待办").click()
    expect(page.get_by_role("status").first).to_contain_text("已放回待办")

    page.locator(f"tr[data-application='{second}']").get_by_role("checkbox").check()
    page.get_by_label("审核意见").select_option("reject")
    page.get_by_label(re.compile("^理由")).fill("证件复印件不清晰")
    page.get_by_role("button", name="批量审核").click()
    expect(page.get_by_test_id("batch-results")).to_contain_text("已审核 1 件")

    open_case(page, point, first)
    decide_in_page(page, "通过")
    expect(page.get_by_role("status").first).to_contain_text("通过（终审）")
    point.wait_application(second, "rejected")
    point.wait_application(first, "approved")
