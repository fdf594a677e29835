"""The main journeys in the browser, through the real services and workers: a clerk opens an
account and the point's reviewer approves it; she deposits a social-training outcome with
its evidence; the point's and the sub-centre's reviewers approve it in their own browsers;
the ledger shows it. Every screen is checked for accessibility and for missing glyphs."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Browser, Page, expect

from tests.intake.conftest import PDF, mobile, resident_id
from tests.window.conftest import World, check_page, sign_in


def new_page(browser: Browser, context_args: dict[str, Any]) -> Page:
    """A browser of its own for another person (their own session cookie)."""
    return browser.new_context(**context_args).new_page()


def review_first(page: Page, kind: str, decision: str = "通过", reason: str = "") -> None:
    """The reviewer opens the oldest case of ``kind`` in her inbox and decides it."""
    page.goto("/review/inbox")
    check_page(page)
    row = page.locator("tr", has_text=kind).first
    expect(row).to_be_visible(timeout=20_000)
    row.get_by_role("link", name=re.compile("审核")).click()
    check_page(page)
    page.get_by_label(re.compile(f"^{decision}")).check()
    if reason:
        page.get_by_label(re.compile("理由")).fill(reason)
    page.get_by_role("button", name="提交审核意见").click()
    page.wait_for_url("**/review/inbox**")


def wait_inbox(page: Page, kind: str) -> None:
    """Reload the inbox until a case of ``kind`` has arrived (it climbs through a queue)."""
    for _ in range(60):
        page.goto("/review/inbox")
        if page.locator("tr", has_text=kind).count():
            return
        page.wait_for_timeout(500)
    raise AssertionError(f"no {kind} case arrived")


def test_from_the_window_to_the_ledger(
    page: Page, browser: Browser, browser_context_args: dict[str, Any], world: World, tmp_path: Any
) -> None:
    point = world.operating_point("S001")
    subcentre_reviewer = world.staff("S001", "reviewer")
    sign_in(page, point["service"])
    check_page(page)

    # A learner the bank does not know: found nowhere, then an account is opened.
    document, phone = resident_id("19900307"), mobile()
    page.get_by_role("link", name="查找学员").first.click()
    check_page(page)
    page.get_by_label("证件号码").fill(document)
    page.get_by_role("button", name="查找").click()
    expect(page.get_by_text("没有找到该证件的学习账户")).to_be_visible()
    page.get_by_role("button", name="为其开立学习账户").click()
    expect(page.get_by_label("证件号码")).to_have_value(document)
    expect(page.get_by_test_id("identity-check")).to_contain_text("校验通过 · 出生日期 1990-03-07")
    check_page(page)
    page.get_by_label("姓名").fill("欧阳明华")
    page.get_by_label("手机号码").fill(phone)
    page.get_by_role("button", name="提交开户申请").click()
    expect(page.get_by_role("heading", name="受理回执")).to_be_visible()
    expect(page.locator(".receipt")).to_contain_text("欧**华")
    check_page(page)

    # The point's reviewer approves the opening in her own browser.
    reviewer = new_page(browser, browser_context_args)
    sign_in(reviewer, point["reviewer"])
    wait_inbox(reviewer, "开户申请")
    review_first(reviewer, "开户申请")

    # The learner comes back: found by document (once intake has applied the approval, which
    # travels through a queue), an outcome deposited with its evidence.
    for _ in range(60):
        page.goto("/learners/find")
        page.get_by_label("证件号码").fill(document)
        page.get_by_role("button", name="查找").click()
        if page.get_by_test_id("account-number").inner_text().startswith("ZJ"):
            break
        page.wait_for_timeout(500)
    expect(page.get_by_test_id("account-number")).to_have_text(re.compile(r"^ZJ\d{12}$"))
    check_page(page)
    page.get_by_role("link", name="存入学习成果").click()
    check_page(page)
    page.get_by_label("培训机构").fill("杭州市职业技能培训中心")
    page.get_by_label("培训项目").fill("电工初级培训")
    page.get_by_label("学时").fill("48")
    page.get_by_label("开始日期").fill("2026-03-01")
    page.get_by_label("结束日期").fill("2026-03-20")
    page.get_by_label("结业证书编号").fill("PX-BROWSER-1")
    scan = tmp_path / "certificate.pdf"
    scan.write_bytes(PDF)
    page.get_by_label(re.compile("选择文件")).set_input_files(str(scan))
    expect(page.get_by_test_id("evidence-uploaded")).to_contain_text("certificate.pdf")
    page.get_by_role("button", name="提交存入申请").click()
    expect(page.get_by_role("heading", name="受理回执")).to_be_visible()

    # The point passes it up; the sub-centre approves it.
    wait_inbox(reviewer, "学习成果存入")
    review_first(reviewer, "学习成果存入")
    upper = new_page(browser, browser_context_args)
    sign_in(upper, subcentre_reviewer)
    wait_inbox(upper, "学习成果存入")
    review_first(upper, "学习成果存入")

    # The ledger shows it.
    for _ in range(60):
        page.goto("/learners/find")
        page.get_by_label("证件号码").fill(document)
        page.get_by_role("button", name="查找").click()
        page.get_by_role("link", name="查看学分账户").click()
        if page.get_by_test_id("ledger").get_by_text("电工初级培训").count():
            break
        page.wait_for_timeout(500)
    expect(page.get_by_test_id("balances")).to_contain_text("48.00")
    check_page(page)


def test_the_glyph_check_finds_a_character_no_font_holds(page: Page, world: World) -> None:
    """A positive control for ``assert_no_tofu``: a character no font has is caught."""
    from tests.window.conftest import assert_no_tofu

    page.goto("/login")
    assert_no_tofu(page)
    page.evaluate("document.body.append('\\u{10FFFC}')")
    try:
        assert_no_tofu(page)
    except AssertionError as exc:
        assert "boxes" in str(exc)
    else:
        raise AssertionError("a character no font holds was not reported")
