"""Credit conversion in the browser, through the real services and workers, each person in a
browser of their own: the provincial centre's administrator drafts a new version of the
sample standard (its rule sheet downloaded, uploaded and downloaded again unchanged; a
version that breaks a cap refused beside its rules) and publishes it; the clerk previews
and applies for a conversion of a learner's deposited outcome, while the same outcome,
chosen in another tab, is refused beside it as reserved; the reviewers approve it up the
tree; the account shows the converted credits apart; the administrator reverses it.

What a journey starts from (the sample catalogue and standard as bootstrap writes them, a
point, a learner with an approved deposit) is made as the system makes it or through the
APIs; what the people do is done in the pages."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.window.conftest import World, check_page, sign_in
from tests.window.test_review import Point, browser_of, decide_in_page, open_case

TRAINING_RULE = ",per_hours,,16.00,6.0"  # the sample's fourth rule: 16 hours a credit, at most 6
TARGET = "SAMPLE-OU|SAMPLE-OU-CS|SAMPLE-OU-CS-ELECTIVE"


@pytest.fixture(scope="module")
def sample(world: World) -> None:
    """The sample catalogue and standard ZJ-SAMPLE, as ``python -m deploy.bootstrap`` writes
    them (the browser tests start from empty tables)."""
    from services.intake.context import worker_db
    from services.intake.conversion import sample as seeded
    from services.intake.conversion.applications import today

    database = worker_db()
    with database.transaction() as session:
        seeded.seed(session, today())
    database.dispose()


def download(page: Page, link: str, into: Path) -> bytes:
    with page.expect_download() as started:
        page.get_by_role("link", name=link).click()
    path = into / started.value.suggested_filename
    started.value.save_as(path)
    return path.read_bytes()


def test_the_administrator_drafts_and_publishes_a_version(
    page: Page, world: World, sample: None, tmp_path: Path
) -> None:
    sign_in(page, "province-admin")
    page.get_by_role("link", name="转换标准").first.click()
    expect(page.get_by_test_id("standards")).to_contain_text("学分转换标准（示例）")
    check_page(page)
    page.get_by_role("link", name="ZJ-SAMPLE").click()
    expect(page.get_by_test_id("in-force")).to_contain_text("第 1 版")
    expect(page.get_by_test_id("rules")).to_contain_text("每 16 学时 1 学分，最多 6 学分")
    check_page(page)
    page.get_by_role("button", name=re.compile("^制定新版本")).click()
    expect(page.get_by_test_id("version-status")).to_have_text("草稿")

    # The rule sheet, downloaded and uploaded back unchanged, is the same sheet.
    sheet = download(page, "下载规则表（CSV）", tmp_path)
    assert TRAINING_RULE in sheet.decode("utf-8-sig")
    page.get_by_label(re.compile("^或上传规则表文件")).set_input_files(
        files=[{"name": "rules.csv", "mimeType": "text/csv", "buffer": sheet}]
    )
    page.get_by_role("button", name="保存草稿").click()
    expect(page.get_by_role("status")).to_contain_text("4 条规则")
    (tmp_path / "again").mkdir()
    assert download(page, "下载规则表（CSV）", tmp_path / "again") == sheet

    # A credit every 8 hours, at most 10: above the cap of 8 from one outcome, refused as
    # it is published, beside the rules and naming the row.
    rules = page.get_by_label(re.compile("^规则表"))
    rules.fill(rules.input_value().replace(TRAINING_RULE, ",per_hours,,8.00,10.0"))
    page.get_by_role("button", name="保存草稿").click()
    page.get_by_role("button", name="发布第 2 版").click()
    note = page.locator("#f-rules-note")
    expect(note).to_contain_text(
        "第 4 条规则（最多学分）：最多可给 10 学分，超过每项成果上限 8 学分"
    )
    expect(rules).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_test_id("version-status")).to_have_text("草稿")
    check_page(page)

    rules.fill(rules.input_value().replace(",per_hours,,8.00,10.0", ",per_hours,,8.00,6.0"))
    page.get_by_role("button", name="保存草稿").click()
    page.get_by_role("button", name="发布第 2 版").click()
    expect(page.get_by_test_id("version-status")).to_contain_text("已发布")
    expect(page.get_by_role("button", name="保存草稿")).to_have_count(0)
    check_page(page)
    page.goto("/conversion/standards/ZJ-SAMPLE")
    expect(page.get_by_test_id("in-force")).to_contain_text("第 2 版")
    expect(page.get_by_test_id("rules")).to_contain_text("每 8 学时 1 学分，最多 6 学分")
    page.goto("/conversion/catalogue")
    expect(page.get_by_test_id("catalogue-courses")).to_contain_text("专业拓展选修（示例）")


def choose(page: Page, outcome: int) -> None:
    page.get_by_test_id(f"outcome-{outcome}").get_by_role("checkbox").check()
    page.get_by_label(re.compile("^转换为")).select_option(TARGET)


def test_a_conversion_previewed_applied_approved_and_reversed(
    page: Page, browser: Browser, browser_context_args: dict[str, Any], world: World, sample: None
) -> None:
    point = Point(world, "S001")
    branch = world.api("org", world.admin).ok("GET", "/units/S001")["parent_code"]
    upper, top = world.staff("S001", "reviewer"), world.staff(branch, "reviewer")
    account = point.account()
    deposit = point.deposit(account)  # 48 hours of training
    point.decide(deposit, "approve")
    point.decide(deposit, "approve", upper)
    point.wait_application(deposit, "approved")
    intake = world.api("intake", point.token("service"))
    ledger = intake.ok("GET", f"/accounts/{account}/ledger")["items"]
    outcome = next(e["id"] for e in ledger if e["application_id"] == deposit)

    # The clerk, from the account, previews: the rule, its credits, the caps.
    sign_in(page, point.people["service"])
    page.goto(f"/accounts/{account}")
    page.get_by_role("link", name="学分转换申请").click()
    other = page.context.new_page()  # the same form, open in a second tab
    other.goto(page.url)
    choose(page, outcome)
    page.get_by_role("button", name="预览转换结果").click()
    preview = page.get_by_test_id("preview")
    expect(preview.get_by_test_id("preview-credits")).to_have_text("可转换 6 学分")
    expect(preview.get_by_test_id("preview-outcomes")).to_contain_text("第 4 条")
    expect(preview.get_by_test_id("preview-caps")).to_contain_text("每学年")
    check_page(page)
    choose(other, outcome)
    other.get_by_role("button", name="预览转换结果").click()
    expect(other.get_by_test_id("preview-credits")).to_have_text("可转换 6 学分")

    page.get_by_role("button", name="提交转换申请").click()
    expect(page.get_by_role("heading", name="受理回执")).to_be_visible()
    expect(page.locator("article")).to_contain_text("专业拓展选修（示例），申请 6 学分")
    check_page(page)
    application = page.get_by_test_id("receipt-number").inner_text()

    # The second tab's application: refused, beside the outcome, as reserved by the first.
    other.get_by_role("button", name="提交转换申请").click()
    note = other.locator(f"#f-outcome-{outcome}-note")
    expect(note).to_contain_text(f"已被另一笔学分转换申请占用（申请 {application}）")
    expect(other.get_by_test_id(f"outcome-{outcome}").get_by_role("checkbox")).to_have_attribute(
        "aria-invalid", "true"
    )
    check_page(other)

    # The reviewers approve it up the tree: the point, the sub-centre, the branch.
    reviewer = browser_of(browser, browser_context_args, point.people["reviewer"])
    point.wait_case(application)
    open_case(reviewer, point, application)
    record = reviewer.get_by_test_id("conversion")
    expect(record).to_contain_text("ZJ-SAMPLE 第 2 版")
    expect(reviewer.get_by_test_id("conversion-credits")).to_have_text("6 学分")
    outcomes = reviewer.get_by_test_id("conversion-outcomes")
    expect(outcomes).to_contain_text("第 4 条")
    expect(outcomes).to_contain_text("48 学时")
    expect(reviewer.get_by_test_id("conversion-caps")).to_contain_text("每项成果")
    check_page(reviewer)
    decide_in_page(reviewer, "通过")
    expect(reviewer.get_by_role("status").first).to_contain_text("已报送上一级")
    point.decide(application, "approve", upper)
    point.wait_case(application, top)
    final = browser_of(browser, browser_context_args, top)
    open_case(final, point, application)
    decide_in_page(final, "通过")
    expect(final.get_by_role("status").first).to_contain_text("终审")
    point.wait_application(application, "approved")

    # The account: the deposit and the converted credits apart; the outcome consumed.
    page.goto(f"/accounts/{account}")
    converted = page.get_by_test_id("converted")
    expect(converted).to_contain_text("计算机应用技术专科（示例）")
    expect(converted.get_by_role("cell", name="6", exact=True)).to_be_visible()
    expect(page.get_by_test_id("balances")).to_contain_text("社会培训")
    ledger_rows = page.get_by_test_id("ledger")
    expect(ledger_rows).to_contain_text("学分转换")
    expect(ledger_rows.locator(f"tr[data-entry='{outcome}']")).to_contain_text("已转换")
    check_page(page)

    # The provincial centre's administrator reverses it, saying why.
    admin = browser_of(browser, browser_context_args, "province-admin")
    admin.goto(f"/applications/{application}")
    check_page(admin)
    admin.get_by_label("冲销理由").fill("所依据的培训记录经核查不实")
    admin.get_by_role("button", name="确认冲销").click()
    expect(admin.get_by_role("status").first).to_contain_text("已冲销")
    admin.goto(f"/accounts/{account}")
    expect(admin.get_by_test_id("ledger")).to_contain_text("冲销")
    expect(
        admin.get_by_test_id("converted").get_by_role("cell", name="0", exact=True)
    ).to_be_visible()


def test_a_standard_of_its_own_on_a_catalogue_entry_added_then_retired(
    page: Page, world: World, sample: None
) -> None:
    sign_in(page, "province-admin")
    page.goto("/conversion/catalogue")
    check_page(page)
    page.get_by_role("link", name="新增院校").click()
    page.get_by_label("院校代码").fill("T UNI")
    page.get_by_label("院校名称").fill("测试学院（示例）")
    page.get_by_role("button", name="保存").click()
    expect(page.locator("#f-code-note")).to_contain_text("应为 1 至 40 位字母、数字")
    check_page(page)
    page.get_by_label("院校代码").fill("T-UNI")
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_test_id("catalogue-institutions")).to_contain_text("测试学院（示例）")
    page.get_by_role("link", name="新增专业").click()
    page.get_by_label("专业代码").fill("T-UNI-CS")
    page.get_by_label("专业名称").fill("计算机专业（示例）")
    page.get_by_label("所属院校").select_option("T-UNI")
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_test_id("catalogue-programmes")).to_contain_text("计算机专业（示例）")

    page.goto("/conversion/standards")
    page.get_by_label("标准代码").fill("ZJ-T")
    page.get_by_label("标准名称").fill("测试标准（示例）")
    page.get_by_label("施行日期").fill("2026-01-01")
    page.get_by_role("button", name="新建（草稿）").click()
    expect(page.get_by_test_id("version-status")).to_have_text("草稿")
    page.get_by_role("button", name="发布第 1 版").click()
    expect(page.locator("#f-rules-note")).to_have_text("每个版本至少要有一条规则")
    rules = page.get_by_label(re.compile("^规则表"))
    rules.fill(rules.input_value() + "training,,,,,,8,,,T-UNI,T-UNI-CS,,fixed,2,,\r\n")
    page.get_by_role("button", name="保存草稿").click()
    page.get_by_role("button", name="发布第 1 版").click()
    expect(page.get_by_test_id("version-status")).to_contain_text("已发布")
    expect(page.get_by_test_id("rules")).to_contain_text("不少于 8 学时")
    page.get_by_label("停止施行的理由").fill("试用结束")
    page.get_by_role("button", name="停止施行第 1 版").click()
    expect(page.get_by_test_id("version-status")).to_contain_text("停止施行：试用结束")
    check_page(page)
    page.goto("/conversion/standards/ZJ-T?on=2026-06-01")
    expect(page.get_by_test_id("in-force")).to_contain_text("第 1 版")
    page.goto("/conversion/standards/ZJ-T")
    expect(page.get_by_test_id("in-force")).to_contain_text("今天没有施行中的版本")
