"""The clerk's window beyond the main journey: an ID-card reader filling the form (and its
absence), the receipt printed on A4 and A5, a double click that makes one application, and
the same work done in a browser that runs no script at all."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import psycopg
from playwright.sync_api import Browser, Page, Route, expect

from tests.factories import PDF, mobile, resident_id
from tests.window.conftest import World, check_page, sign_in

READER = "http://127.0.0.1:19196/readcard"  # the setting's default: the reader's local service


def applications_of(run_env: dict[str, str], unit: str, kind: str) -> int:
    url = run_env["CB_INTAKE_DATABASE_URL"].replace("+psycopg", "")
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM applications WHERE unit_code = %s AND kind = %s", (unit, kind)
        ).fetchone()
    return int(row[0]) if row else 0


def test_the_card_reader_fills_the_form_and_its_absence_is_said(page: Page, world: World) -> None:
    point = world.operating_point("S003")
    sign_in(page, point["service"])
    number = resident_id("19851201")

    def reader(route: Route) -> None:
        body = {"name": "王小明", "id_number": number}
        route.fulfill(
            status=200,
            content_type="application/json",
            headers={"Access-Control-Allow-Origin": "*"},
            body=json.dumps(body, ensure_ascii=False),
        )

    page.route(READER, reader)
    page.goto("/accounts/new")
    page.get_by_role("button", name="读取身份证").click()
    expect(page.get_by_label("证件号码")).to_have_value(number)
    expect(page.get_by_label("姓名")).to_have_value("王小明")
    expect(page.get_by_label("身份证读卡器读取")).to_be_checked()
    expect(page.get_by_test_id("identity-check")).to_contain_text("出生日期 1985-12-01")
    check_page(page)
    page.unroute(READER)
    page.route(READER, lambda route: route.abort())
    page.goto("/accounts/new")
    page.get_by_role("button", name="读取身份证").click()
    expect(page.get_by_text("未检测到读卡器，请手工录入。")).to_be_visible()
    expect(page.get_by_label("证件号码")).to_have_value("")


def open_one(page: Page) -> str:
    """An opening taken at the page's window; the receipt's address."""
    page.goto("/accounts/new")
    page.get_by_label("证件号码").fill(resident_id())
    page.get_by_label("姓名").fill("李四")
    page.get_by_label("手机号码").fill(mobile())
    page.get_by_role("button", name="提交开户申请").click()
    expect(page.get_by_role("heading", name="受理回执")).to_be_visible()
    return page.url


def pdf_facts(path: Path) -> tuple[str, str]:
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True)
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    )
    return info.stdout, text.stdout


def test_the_receipt_prints_on_a4_and_a5_without_the_page_around_it(
    page: Page, world: World, tmp_path: Path
) -> None:
    point = world.operating_point("S003")
    sign_in(page, point["service"])
    receipt = open_one(page)
    check_page(page)
    number = page.get_by_test_id("receipt-number").inner_text().strip()
    for paper in ("a4", "a5"):
        page.goto(f"{receipt}?paper={paper}")
        page.emulate_media(media="print")
        printed = tmp_path / f"receipt-{paper}.pdf"
        page.pdf(path=str(printed), prefer_css_page_size=True, print_background=False)
        info, text = pdf_facts(printed)
        assert f"({paper.upper()})" in info and "Pages:           1" in info, info
        assert "受理回执" in text and number[:8] in text.replace(" ", "")
        assert "退出" not in text and "打印回执" not in text  # nothing of the page around it
        page.emulate_media(media="screen")


def test_a_form_sent_twice_at_once_makes_one_application(
    page: Page, world: World, run_env: dict[str, str]
) -> None:
    """A double click, or a retry after the network dropped: the form carries one
    Idempotency-Key, so the second sending gets the first's answer, never a second
    application."""
    point = world.operating_point("S003")
    sign_in(page, point["service"])
    page.goto("/accounts/new")
    page.get_by_label("证件号码").fill(resident_id())
    page.get_by_label("姓名").fill("赵五")
    page.get_by_label("手机号码").fill(mobile())
    statuses = page.evaluate(
        """() => {
          const form = document.querySelector('form[action="/accounts/new"]');
          const send = () => fetch(form.action, {method: 'POST', body: new FormData(form)});
          return Promise.all([send(), send()]).then((answers) => answers.map((a) => a.status));
        }"""
    )
    assert statuses == [200, 200]  # both shown the receipt (after the redirect)
    assert applications_of(run_env, point["code"], "account_opening") == 1
    page.get_by_role("button", name="提交开户申请").dblclick()
    expect(page.get_by_role("heading", name="受理回执")).to_be_visible()
    assert applications_of(run_env, point["code"], "account_opening") == 1


def test_the_same_work_without_any_script(
    browser: Browser, browser_context_args: dict[str, Any], world: World, tmp_path: Path,
    run_env: dict[str, str],
) -> None:  # fmt: skip
    point = world.operating_point("S003")
    context = browser.new_context(**browser_context_args, java_script_enabled=False)
    page = context.new_page()
    sign_in(page, point["service"])
    open_one(page)
    assert applications_of(run_env, point["code"], "account_opening") == 1
    from tests.window.test_journeys import review_first, wait_inbox

    reviewer = context.browser.new_context(**browser_context_args).new_page()  # type: ignore[union-attr]
    sign_in(reviewer, point["reviewer"])
    wait_inbox(reviewer, "开户申请")
    review_first(reviewer, "开户申请")
    page.goto("/applications?status=approved")
    for _ in range(60):
        if page.get_by_role("link", name=re.compile("详情")).count():
            break
        page.wait_for_timeout(500)
        page.reload()
    page.get_by_role("link", name=re.compile("详情")).first.click()
    account = page.locator("dd", has_text=re.compile(r"^ZJ\d{12}$")).inner_text().strip()
    page.goto(f"/accounts/{account}/deposit")
    page.get_by_label("成果类型").select_option("other")
    page.get_by_role("button", name="切换类型").click()  # no script: the form asks again
    expect(page.get_by_label("成果名称")).to_be_visible()
    page.get_by_label("成果名称").fill("社区志愿服务证明")
    page.get_by_label("成果说明").fill("参加社区志愿服务 120 小时")
    page.get_by_label("取得日期").fill("2026-05-01")
    scan = tmp_path / "proof.pdf"
    scan.write_bytes(PDF)
    page.get_by_label(re.compile("选择文件")).set_input_files(str(scan))
    page.get_by_role("button", name="提交存入申请").click()  # the file goes with the form
    expect(page.get_by_role("heading", name="受理回执")).to_be_visible()
    assert applications_of(run_env, point["code"], "deposit") == 1
    context.close()


def tab_to(page: Page, label: str, limit: int = 40) -> None:
    """Press Tab until the field labelled ``label`` has the focus, as a keyboard user does."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "() => { const el = document.activeElement; return el && el.labels && el.labels[0]"
            " ? el.labels[0].innerText : ''; }"
        )
        if focused.startswith(label):
            return
    raise AssertionError(f"{label} cannot be reached with Tab")


def test_an_account_opened_with_the_keyboard_alone(
    page: Page, world: World, run_env: dict[str, str]
) -> None:
    point = world.operating_point("S003")
    sign_in(page, point["service"])
    page.goto("/accounts/new")
    tab_to(page, "证件号码")
    page.keyboard.type(resident_id())
    tab_to(page, "姓名")
    page.keyboard.type("钱六")
    tab_to(page, "手机号码")
    page.keyboard.type(mobile())
    tab_to(page, "现场核验证件原件")  # a radio group takes one Tab; arrows choose in it
    page.keyboard.press("ArrowUp")
    expect(page.get_by_label("身份证读卡器读取")).to_be_checked()
    page.keyboard.press("Enter")  # submits the form from a field of it
    expect(page.get_by_role("heading", name="受理回执")).to_be_visible()
    assert applications_of(run_env, point["code"], "account_opening") == 1
