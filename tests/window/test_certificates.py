"""Certificates in the browser, through the real services and workers: the clerk asks for a
certificate of a learner's approved deposit, reviewers approve it up its route, the clerk
sees it issued; the verification page its QR code opens (a browser never signed in) says it
is genuine and shows what was signed, and that the QR payload is this certificate's; staff
of the issuing unit revoke it with a reason (the point's reviewer is refused); the page then
says revoked, with the reason (and so does its credential uploaded); a tampered payload
pasted into the verify page is not genuine. axe-core and the glyph check pass on every page."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
from playwright.sync_api import Browser, Page, expect

from services.window.apis import ApiError
from services.window.certificates import entry_errors
from tests.window.conftest import World, check_page, sign_in
from tests.window.test_review import Point, browser_of, decide_in_page, open_case

BASE45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


def tampered(payload: str) -> str:
    """The payload with one character of its middle changed for another Base45 one."""
    middle = len(payload) // 2
    other = BASE45[(BASE45.index(payload[middle]) + 1) % len(BASE45)]
    return payload[:middle] + other + payload[middle + 1 :]


def approved_deposit(point: Point, upper: str) -> str:
    """A learner's account holding a deposit approved up its route; the account number."""
    account = point.account()
    deposit = point.deposit(account)
    point.decide(deposit, "approve")
    point.decide(deposit, "approve", upper)
    point.wait_application(deposit, "approved")
    return account


def issued_row(page: Page, account: str) -> Any:
    """The account page's row of its certificate, once intake has issued it."""
    rows = page.get_by_test_id("certificates").locator("tr[data-certificate]")
    for _ in range(60):
        if rows.count():
            return rows.first
        page.wait_for_timeout(500)
        page.goto(f"/accounts/{account}")
    raise AssertionError("no certificate issued")


def test_a_certificate_asked_for_issued_verified_and_revoked(
    page: Page,
    browser: Browser,
    browser_context_args: dict[str, Any],
    world: World,
    tmp_path: Path,
) -> None:
    point = Point(world, "S005")
    upper = world.staff("S005", "reviewer")
    account = approved_deposit(point, upper)

    # The clerk asks for a certificate of the entry chosen from the ledger: choosing the
    # scope without an entry is refused beside the choice, as intake says.
    sign_in(page, point.people["service"])
    page.goto(f"/accounts/{account}")
    expect(page.get_by_test_id("certificates")).to_contain_text("暂无证明")
    page.get_by_role("link", name="申请学习成果证明").click()
    expect(page.get_by_role("heading", name="申请学习成果证明")).to_be_visible()
    check_page(page)
    page.get_by_label("只证明下面勾选的明细").check()
    page.get_by_role("button", name="提交证明申请").click()
    expect(page.locator("#f-entries-note")).to_be_visible()
    check_page(page)
    page.get_by_test_id("entries").get_by_role("checkbox").first.check()
    page.get_by_label(re.compile("^用途")).fill("求职")
    page.get_by_role("button", name="提交证明申请").click()
    expect(page.get_by_role("heading", name="受理回执")).to_be_visible()
    expect(page.locator("article")).to_contain_text("学习成果证明")
    check_page(page)
    application = page.get_by_test_id("receipt-number").inner_text().strip()

    # The point's reviewer sees what the certificate will state, and passes it up; the
    # sub-centre approves it (the last level of its route).
    point.wait_case(application)
    reviewer = browser_of(browser, browser_context_args, point.people["reviewer"])
    open_case(reviewer, point, application)
    entries = reviewer.get_by_test_id("certificate-entries")
    expect(entries).to_contain_text("社会培训")
    expect(entries).to_contain_text("48")
    expect(reviewer.get_by_test_id("certificate-scope")).to_contain_text("所选明细（1 笔）")
    check_page(reviewer)
    decide_in_page(reviewer, "通过")
    expect(reviewer.get_by_role("status").first).to_contain_text("已报送上一级")
    point.decide(application, "approve", upper)

    # The clerk sees it issued on the account's page, with its verification page and PDF.
    page.goto(f"/accounts/{account}")
    row = issued_row(page, account)
    expect(row).to_contain_text("有效")
    certificate = row.get_attribute("data-certificate")
    number = row.locator("td").first.inner_text().strip()
    assert re.fullmatch(r"ZJC\d{11}", number), number
    pdf = row.get_by_role("link", name=re.compile("打印"))
    expect(pdf).to_have_attribute("href", f"/v/{certificate}/pdf")
    check_page(page)

    # Anyone who scans the QR code (a browser never signed in): genuine, what was signed,
    # and the QR payload after "#" is this certificate's.
    intake = world.api("intake", None)
    held = intake.ok("GET", f"/certificates/{certificate}")
    payload = held["payload"]
    public = browser.new_context(**browser_context_args).new_page()
    public.goto(f"/v/{certificate}#{quote(payload, safe='')}")
    verdict = public.get_by_test_id("verdict")
    expect(verdict).to_have_attribute("data-outcome", "genuine")
    expect(verdict.get_by_role("heading")).to_have_text("真实有效")
    expect(public.get_by_test_id("signed-name")).to_have_text("王小明")
    expect(public.get_by_test_id("signed-number")).to_have_text(number)
    expect(public.get_by_test_id("signed-outcomes")).to_contain_text("48")
    chain = public.get_by_test_id("signed-chain").get_by_role("listitem")
    expect(chain).to_have_count(3)  # taken, passed up by the point, approved by S005
    expect(chain.nth(0)).to_contain_text(f"受理：{point.name}")
    expect(chain.nth(2)).to_contain_text("分中心审核通过")
    expect(chain.nth(2)).to_contain_text("S005")
    expect(public.get_by_role("note")).to_contain_text("姓名")
    expect(public.get_by_test_id("qr-result")).to_contain_text("二维码与本证明一致")
    check_page(public)

    # The point's reviewer did not issue it: intake refuses them, and the page says so.
    reviewer.goto(f"/certificates/{certificate}")
    reviewer.get_by_label("撤销理由").fill("核查")
    reviewer.get_by_role("button", name="撤销", exact=True).click()
    expect(reviewer.locator("#form-errors")).to_contain_text("签发单位 S005")
    check_page(reviewer)

    # The sub-centre revokes it, with its reason, from the list of its subtree's certificates.
    staff = browser_of(browser, browser_context_args, upper)
    staff.get_by_role("link", name="证明", exact=True).click()
    listed = staff.get_by_test_id("certificate-list").locator(
        f"tr[data-certificate='{certificate}']"
    )
    expect(listed).to_contain_text("有效")
    check_page(staff)
    listed.get_by_role("link", name=re.compile("^办理")).click()
    check_page(staff)
    staff.get_by_label("撤销理由").fill("培训机构资质被撤销，所载成果不予认定")
    staff.get_by_role("button", name="撤销", exact=True).click()
    expect(staff.get_by_role("status").first).to_contain_text("证明已撤销")
    expect(staff.get_by_test_id("certificate-status")).to_contain_text("已撤销")
    check_page(staff)

    # The verification page now says revoked, with the reason.
    public.goto(f"/v/{certificate}")
    expect(verdict).to_have_attribute("data-outcome", "revoked")
    expect(verdict.get_by_role("heading")).to_have_text("已撤销")
    expect(public.get_by_test_id("status-reason")).to_contain_text("培训机构资质被撤销")
    check_page(public)

    # The credential itself, uploaded as the learner holds it: revoked too.
    credential = tmp_path / f"{number}.json"
    credential.write_text(json.dumps(held["credential"], ensure_ascii=False), encoding="utf-8")
    public.goto("/verify")
    public.get_by_label("或选择证明文件（JSON）").set_input_files(str(credential))
    public.get_by_role("button", name="核验").click()
    expect(verdict).to_have_attribute("data-outcome", "revoked")
    expect(public.get_by_test_id("signed-number")).to_have_text(number)
    check_page(public)

    # A payload altered by one character is not genuine; the real one scanned as an address,
    # with another number than its own, is not that paper's certificate.
    public.goto("/verify")
    check_page(public)
    public.get_by_label("二维码内容或网址").fill(tampered(payload))
    public.get_by_role("button", name="核验").click()
    expect(verdict).to_have_attribute("data-outcome", "not_genuine")
    expect(verdict.get_by_role("heading")).to_have_text("无法验证")
    expect(public.get_by_test_id("signed-name")).to_have_count(0)
    check_page(public)
    public.goto("/verify")
    scanned = f"{world.system.url('window')}/v/{certificate}#{quote(payload, safe='')}"
    public.get_by_label("二维码内容或网址").fill(scanned)
    public.get_by_label(re.compile("^纸质证明上的证明编号")).fill("ZJC202600000000")
    public.get_by_role("button", name="核验").click()
    expect(verdict).to_have_attribute("data-outcome", "not_genuine")
    expect(public.get_by_test_id("reasons")).to_contain_text("与纸面上的证明编号不符")

    # No certificate at an address: the page says so.
    public.goto(f"/v/{uuid.uuid4()}")
    expect(public.get_by_role("heading", name="没有找到这份证明")).to_be_visible()
    check_page(public)
    public.context.close()


def test_the_bank_publishes_its_documents_under_the_window(world: World) -> None:
    """What a credential names (its issuer, the key list, the status lists) answers at the
    window's address, as intake publishes it."""
    window = world.system.url("window")
    keys = requests.get(f"{window}/certificates/keys.json", timeout=10)
    assert keys.status_code == 200 and keys.headers["Cache-Control"] == "no-cache"
    assert keys.json()["id"] == f"{window}/certificates/keys.json"
    assert "Set-Cookie" not in keys.headers
    for purpose in ("revocation", "suspension"):
        listed = requests.get(f"{window}/certificates/status/{purpose}", timeout=10)
        assert listed.status_code == 200 and listed.headers["Cache-Control"] == "no-cache"
        assert listed.json()["id"] == f"{window}/certificates/status/{purpose}"
    assert requests.get(f"{window}/certificates/status/other", timeout=10).status_code == 404
    issuer = requests.get(f"{window}/issuer", timeout=10).json()
    assert issuer["id"] == keys.json()["controller"] == f"{window}/issuer"
    assert issuer["name"] == "浙江省终身教育学分银行"


def test_an_entry_refused_by_its_place_is_shown_beside_that_entry() -> None:
    refused = ApiError(
        422,
        "some entries cannot be certified",
        [{"field": "entries.1", "reason": "entry 9 has been reversed"},
         {"field": "purpose", "reason": "Longer than maximum length 200."}],
    )  # fmt: skip
    assert entry_errors(refused, [4, 9]) == {
        "entry-9": "entry 9 has been reversed",
        "purpose": "Longer than maximum length 200.",
    }
