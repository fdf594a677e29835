"""The admins' screens in the browser, through the real services and workers, each person in
a browser of their own: a point listed by its county's education bureau, its admin account
allocated by the sub-centre (the activation code shown once), activated, its window and
staff registered, business started, suspended (its clerk refused) and reinstated; staff
accounts deactivated (their holder sent to sign in again) and reactivated; the compliance
list; the audit record; the allocation done with the keyboard alone. Every screen is checked
for accessibility and missing glyphs, and every refusal is read beside the field it names."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.window.conftest import PASSWORD, World, check_page, sign_in
from tests.window.test_journeys import new_page

STATE = "point-state"


# --- what a test starts from, made through the APIs ---------------------------------------


def listed_point(world: World, parent: str = "S001") -> str:
    """A point listed under ``parent`` by its bureau; its code."""
    bureau = world.sign_in(world.staff(parent, "bureau"))
    body = {"name": f"社区学校{world.next()}", "parent_code": parent,
            "point_kind": "community_school", "point_tier": "township"}  # fmt: skip
    return str(world.api("org", bureau).ok("POST", "/acceptance-points", body)["code"])


def active_point(world: World, parent: str = "S001") -> tuple[str, str]:
    """A point allocated by ``parent``'s manager and activated by its admin; its code and
    its admin's token."""
    code = listed_point(world, parent)
    manager = world.sign_in(world.staff(parent, "management"))
    admin = f"{code.lower()}-admin"
    allocated = world.api("org", manager).ok(
        "POST",
        f"/acceptance-points/{code}/allocation",
        {"admin_username": admin, "admin_display_name": "管理员"},
    )
    world.api("org", None).ok(
        "POST",
        "/activation",
        {"username": admin, "activation_code": allocated["activation_code"], "password": PASSWORD},
    )
    return code, world.sign_in(admin)


# --- what a test reads and does on a page -------------------------------------------------


def labelled(page: Page | Locator, label: str) -> Locator:
    """The field whose label starts with ``label`` (a required one's ends in a mark)."""
    return page.get_by_label(re.compile(f"^{re.escape(label)}"))


def refused(page: Page, label: str, wording: str) -> None:
    """The field labelled ``label`` is marked invalid, and org's reason, in Chinese, is
    beside it: its description, announced as an alert."""
    field = labelled(page, label)
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_accessible_description(re.compile(re.escape(wording)))
    note = page.locator(f"#{field.get_attribute('id')}-note")
    expect(note).to_have_attribute("role", "alert")


def add_staff(page: Page, username: str, role: str, password: str = PASSWORD) -> None:
    """The point's admin adds a person with one role (named as the page names it)."""
    labelled(page, "用户名").fill(username)
    labelled(page, "姓名").fill(f"{role}{username[-1]}")
    page.get_by_role("group", name=re.compile("岗位")).get_by_label(role, exact=True).check()
    page.get_by_label("初始密码").fill(password)
    page.get_by_role("button", name="添加人员").click()


def cannot_sign_in(page: Page, username: str, wording: str) -> None:
    page.goto("/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("alert")).to_contain_text(wording)
    check_page(page)


def focused(page: Page) -> str:
    """What the keyboard is on: a field's label, or a link's or a button's text."""
    return str(
        page.evaluate(
            "() => { const e = document.activeElement;"
            " return ((e.labels && e.labels.length ? e.labels[0] : e).innerText || '').trim(); }"
        )
    )


# --- the journeys ---------------------------------------------------------------------------


# The longest journey of the suite (about 85 s quiet): the default 120 s is too near under load.
@pytest.mark.timeout(300)
def test_a_point_from_listing_to_business_suspended_and_reinstated(
    page: Page, browser: Browser, browser_context_args: dict[str, Any], world: World
) -> None:
    bureau, manager = world.staff("S001", "bureau"), world.staff("S001", "management")
    subcentre_admin = world.staff("S001", "admin")

    # The county's education bureau lists a point under its sub-centre.
    sign_in(page, bureau)
    page.get_by_role("navigation", name="主菜单").get_by_role("link", name="受理点").click()
    check_page(page)
    name = f"小营街道社区学校{world.next()}"
    page.get_by_label("受理点名称").fill(name)
    page.get_by_label("上级单位").select_option("S001")
    page.get_by_role("button", name="列入名单").click()
    expect(page.get_by_test_id(STATE)).to_have_text("已列入名单")
    code = re.findall(r"AP\d+", page.url)[0]
    check_page(page)
    # The same name twice under one sub-centre is refused, beside the name.
    page.goto("/admin/points")
    page.get_by_label("受理点名称").fill(name)
    page.get_by_role("button", name="列入名单").click()
    refused(page, "受理点名称", f"已列入名单，代码 {code}")
    check_page(page)

    # The sub-centre's manager allocates its admin account, in her own browser.
    sub = new_page(browser, browser_context_args)
    sign_in(sub, manager)
    sub.goto(f"/admin/points/{code}")
    check_page(sub)
    sub.get_by_label("管理员用户名").fill("小营 管理员")
    sub.get_by_label("管理员姓名").fill("王老师")
    sub.get_by_role("button", name="分配并生成激活码").click()
    refused(sub, "管理员用户名", "应为 3 至 64 位小写字母")
    check_page(sub)
    admin = f"{code.lower()}-admin"
    sub.get_by_label("管理员用户名").fill(admin)
    sub.get_by_role("button", name="分配并生成激活码").click()
    activation = sub.get_by_test_id("activation-code").inner_text()
    assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", activation), activation
    check_page(sub)
    # Shown once: reloading the answer sends the form again, which org refuses while the
    # code is valid; the point's page does not show it, nor does it once reloaded.
    sub.reload()
    expect(sub.get_by_role("alert")).to_contain_text(f"受理点 {code} 已分配管理员账号，激活码在")
    assert activation not in sub.content()
    check_page(sub)
    sub.goto(f"/admin/points/{code}/allocation")
    expect(sub.get_by_test_id(STATE)).to_have_text("已分配管理员账号")
    assert activation not in sub.content()
    sub.reload()
    expect(sub.get_by_test_id(STATE)).to_have_text("已分配管理员账号")
    assert activation not in sub.content()
    check_page(sub)

    # The new admin activates: a wrong code, a password breaking the policy, then right.
    point = new_page(browser, browser_context_args)
    point.goto("/activate")
    check_page(point)

    def activate(code_given: str, password: str, again: str | None = None) -> None:
        point.get_by_label("用户名").fill(admin)
        point.get_by_label("激活码").fill(code_given)
        point.get_by_label("设置密码").fill(password)
        point.get_by_label("再次输入密码").fill(password if again is None else again)
        point.get_by_role("button", name="激活").click()

    activate("ABCD-EFGH-JKLM", PASSWORD)
    refused(point, "激活码", "不正确、已经用过，或不属于这个用户名")
    check_page(point)
    activate(activation.lower(), "short-1")
    refused(point, "设置密码", "长度应为 10 至 128 位")
    activate(activation, "onlyletterswithoutdigits")
    refused(point, "设置密码", "不能全是字母或全是数字")
    activate(activation, PASSWORD, again=PASSWORD + "x")
    refused(point, "再次输入密码", "两次输入的密码不一致")
    activate(activation, PASSWORD)
    expect(point.get_by_role("status")).to_contain_text(f"受理点 {code} 的管理员账号已激活")
    expect(point.get_by_label("用户名")).to_have_value(admin)
    check_page(point)
    point.get_by_label("密码").fill(PASSWORD)
    point.get_by_role("button", name="登录").click()
    point.wait_for_url("**/")
    point.get_by_role("navigation", name="主菜单").get_by_role("link", name="受理点").click()
    expect(point.get_by_test_id(STATE)).to_have_text("已激活")
    expect(point.get_by_test_id("point-needs")).to_contain_text("服务窗口：未登记")
    check_page(point)

    # Starting business before the window and the roles exist: org says what is missing.
    point.get_by_role("button", name="开展业务").click()
    expect(point.get_by_role("alert")).to_contain_text(
        f"受理点 {code} 还不能开展业务，尚缺：服务窗口、管理人员、技术人员、服务窗口人员"
    )
    check_page(point)

    # The window, and staff with the three roles (a password breaking the policy first).
    point.get_by_label("窗口地址").fill("杭州市上城区小营街道办事处一楼")
    point.get_by_label("办理时间").fill("周一至周五 9:00-17:00")
    point.get_by_role("button", name="保存窗口信息").click()
    expect(point.get_by_test_id("point-window")).to_contain_text("杭州市上城区小营街道办事处一楼")
    add_staff(point, f"{code.lower()}-mgmt", "管理人员", password="1234567890")
    refused(point, "初始密码", "不能全是字母或全是数字")
    check_page(point)
    clerk = f"{code.lower()}-clerk"
    staff = {f"{code.lower()}-mgmt": "管理人员", f"{code.lower()}-tech": "技术人员"}
    for username, role in {**staff, clerk: "服务窗口人员"}.items():
        add_staff(point, username, role)
        expect(point.get_by_test_id("point-staff")).to_contain_text(username)
    expect(point.get_by_test_id("point-needs")).not_to_contain_text("✗")
    check_page(point)
    point.get_by_role("button", name="开展业务").click()
    expect(point.get_by_test_id(STATE)).to_have_text("开展业务中")
    check_page(point)

    # The sub-centre's admin suspends it with a reason.
    boss = new_page(browser, browser_context_args)
    sign_in(boss, subcentre_admin)
    boss.goto(f"/admin/points/{code}")
    check_page(boss)
    boss.get_by_label("暂停理由").fill("服务窗口迁址，暂停整改")
    boss.get_by_role("button", name="暂停", exact=True).click()
    expect(boss.get_by_test_id(STATE)).to_have_text("已暂停")
    expect(boss.get_by_test_id("suspension")).to_contain_text("暂停理由：服务窗口迁址，暂停整改")
    check_page(boss)

    # Its clerk cannot sign in; its admin, signed in already, is refused on the next page.
    window = new_page(browser, browser_context_args)
    cannot_sign_in(window, clerk, f"受理点 {code} 已暂停，本点人员暂时不能登录")
    point.reload()
    suspended = f"受理点 {code} 已暂停，本点人员暂时不能办理业务"
    expect(point.get_by_role("alert")).to_contain_text(suspended)
    check_page(point)

    # Reinstated, it is back in business and its clerk signs in.
    boss.get_by_role("button", name="恢复").click()
    expect(boss.get_by_test_id(STATE)).to_have_text("开展业务中")
    check_page(boss)
    sign_in(window, clerk)
    expect(window.get_by_role("link", name="查找学员").first).to_be_visible()
    check_page(window)


def test_the_allocation_with_the_keyboard_alone(page: Page, world: World) -> None:
    code = listed_point(world)
    manager = world.staff("S001", "management")
    page.goto("/login")
    assert focused(page).startswith("用户名")  # the sign-in page gives it the keyboard
    page.keyboard.type(manager)
    page.keyboard.press("Tab")
    assert focused(page).startswith("密码")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/")

    page.goto(f"/admin/points/{code}")
    page.keyboard.press("Tab")
    assert focused(page) == "跳到正文"
    page.keyboard.press("Enter")  # past the menu, to the page's own content
    page.keyboard.press("Tab")
    assert focused(page).startswith("管理员用户名")
    page.keyboard.type("Bad Name!")
    page.keyboard.press("Tab")
    assert focused(page).startswith("管理员姓名")
    page.keyboard.type("王老师")
    page.keyboard.press("Tab")
    assert focused(page).startswith("管理员手机号码")
    page.keyboard.press("Tab")
    assert focused(page) == "分配并生成激活码"
    page.keyboard.press("Enter")

    # Refused: the keyboard is on the refusal, and the field it names is the next stop.
    refused(page, "管理员用户名", "应为 3 至 64 位小写字母")
    expect(page.locator("#form-errors")).to_be_focused()
    page.keyboard.press("Tab")
    assert focused(page).startswith("管理员用户名")
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type(f"{code.lower()}-admin")
    page.keyboard.press("Enter")  # Enter in a field sends its form
    expect(page.get_by_test_id("activation-code")).to_have_text(re.compile(r"^\w{4}-\w{4}-\w{4}$"))
    expect(page.get_by_test_id("admin-username")).to_have_text(f"{code.lower()}-admin")
    check_page(page)


def test_staff_accounts_created_deactivated_and_reactivated(
    page: Page, browser: Browser, browser_context_args: dict[str, Any], world: World
) -> None:
    sign_in(page, "province-admin")
    page.get_by_role("navigation", name="主菜单").get_by_role("link", name="人员账号").click()
    check_page(page)
    username = f"s002-reviewer-{world.next()}"

    def create(role: str) -> None:
        form = page.get_by_role("region", name="新建账号")
        labelled(form, "用户名").fill(username)
        labelled(form, "姓名").fill("李芳")
        labelled(form, "所属单位代码").fill("S002")
        form.get_by_role("group", name=re.compile("岗位")).get_by_label(role, exact=True).check()
        labelled(form, "初始密码").fill(PASSWORD)
        form.get_by_role("button", name="创建账号").click()

    # A role a sub-centre does not have is refused, beside the roles, in Chinese.
    create("服务窗口人员")
    roles = page.get_by_role("group", name=re.compile("岗位"))
    expect(roles).to_have_accessible_description(re.compile("分中心不设服务窗口人员岗位"))
    check_page(page)
    page.get_by_role("group", name=re.compile("岗位")).get_by_label("服务窗口人员").uncheck()
    create("审核人员")
    expect(page.get_by_role("status")).to_contain_text(f"账号 {username} 已创建")
    row = page.get_by_test_id("staff").locator("tr", has_text=username)
    expect(row).to_contain_text("S002")
    expect(row).to_contain_text("审核人员")
    check_page(page)

    # Its holder signs in, in her own browser.
    holder = new_page(browser, browser_context_args)
    sign_in(holder, username)
    expect(holder.get_by_test_id("whoami")).to_have_text(username)

    # Deactivated: her next page sends her to sign in again, and signing in is refused.
    row.get_by_role("button", name=f"停用账号 {username}").click()
    expect(page.get_by_role("status")).to_contain_text(f"账号 {username} 已停用")
    expect(row).to_contain_text("已停用")
    check_page(page)
    holder.goto("/")
    holder.wait_for_url(re.compile(r"/login\?next="))
    expect(holder.get_by_test_id("whoami")).to_have_count(0)
    cannot_sign_in(holder, username, "该账号已停用")

    # Reactivated: she signs in afresh.
    row.get_by_role("button", name=f"恢复账号 {username}").click()
    expect(page.get_by_role("status")).to_contain_text(f"账号 {username} 已恢复")
    expect(row).to_contain_text("正常")
    sign_in(holder, username)
    expect(holder.get_by_test_id("whoami")).to_have_text(username)

    # A unit outside the admin's reach, or no unit code at all, is refused beside the filter.
    labelled(page, "单位代码").fill("S2")
    page.get_by_role("button", name="查找").click()
    refused(page, "单位代码", "应为单位代码")
    check_page(page)


def test_the_compliance_list_shows_a_point_until_it_has_a_service_clerk(
    page: Page, browser: Browser, browser_context_args: dict[str, Any], world: World
) -> None:
    code, admin = active_point(world)
    api = world.api("org", admin)
    window = {"address": "杭州市上城区望江街道", "opening_hours": "周一至周五 9:00-17:00"}
    api.ok("PUT", f"/acceptance-points/{code}/window", window)
    for role in ("management", "technical"):
        world.staff(code, role, by=admin)
    sign_in(page, world.staff("S001", "management"))
    page.goto("/admin/points")
    page.get_by_role("link", name="缺少服务窗口或人员的受理点").click()
    row = page.get_by_test_id("compliance").locator("tr", has_text=code)
    expect(row).to_contain_text("服务窗口人员")
    expect(row).not_to_contain_text("技术人员")
    check_page(page)

    # The point's admin adds a service clerk in her own browser: the point leaves the list.
    point = new_page(browser, browser_context_args)
    sign_in(point, f"{code.lower()}-admin")
    point.goto(f"/admin/points/{code}")
    expect(point.get_by_test_id("point-needs")).to_contain_text("✗ 服务窗口人员：尚无")
    add_staff(point, f"{code.lower()}-clerk", "服务窗口人员")
    expect(point.get_by_test_id("point-needs")).to_contain_text("✓ 服务窗口人员：已有")
    page.reload()
    expect(page.get_by_test_id("compliance")).not_to_contain_text(code)
    check_page(page)


def test_the_audit_record_newest_first_and_by_unit(page: Page, world: World) -> None:
    code = world.operating_point("S001")["code"]
    other = listed_point(world, "S002")
    sign_in(page, "province-admin")
    page.get_by_role("navigation", name="主菜单").get_by_role("link", name="操作记录").click()
    check_page(page)
    page.get_by_label("单位代码").fill(code)
    page.get_by_role("button", name="筛选").click()
    table = page.get_by_test_id("audit")
    expect(table.locator("tbody tr")).to_have_count(9)
    actions = [row.inner_text() for row in table.locator("tbody tr td:nth-child(3)").all()]
    assert actions == [
        "开展业务", "登记服务窗口", *["创建人员账号"] * 4,
        "激活管理员账号", "分配管理员账号", "列入受理点名单",
    ], actions  # fmt: skip
    expect(table).not_to_contain_text(other)
    expect(table.locator("tr", has_text="分配管理员账号")).to_contain_text("激活码有效期至")
    check_page(page)
    labelled(page, "操作").select_option(label="创建人员账号")
    page.get_by_role("button", name="筛选").click()
    expect(table.locator("tbody tr")).to_have_count(4)
    expect(table).to_contain_text("岗位：服务窗口人员")

    # A code that names no unit is refused beside the filter.
    page.get_by_label("单位代码").fill("上城区")
    page.get_by_role("button", name="筛选").click()
    refused(page, "单位代码", "应为单位代码")
    check_page(page)


def test_the_steps_work_as_plain_forms_without_javascript(
    browser: Browser, browser_context_args: dict[str, Any], world: World
) -> None:
    """No script runs in this browser: each step is a plain POST, and a refusal still shows
    (the pages are those checked by axe-core above)."""
    code = listed_point(world)
    admin = f"{code.lower()}-admin"
    plain = browser.new_context(**browser_context_args, java_script_enabled=False).new_page()
    sign_in(plain, world.staff("S001", "management"))
    plain.goto(f"/admin/points/{code}")
    plain.get_by_label("管理员用户名").fill(admin)
    plain.get_by_label("管理员姓名").fill("赵老师")
    plain.get_by_role("button", name="分配并生成激活码").click()
    activation = plain.get_by_test_id("activation-code").inner_text()
    plain.get_by_role("button", name="退出").click()

    plain.goto("/activate")
    plain.get_by_label("用户名").fill(admin)
    plain.get_by_label("激活码").fill(activation)
    plain.get_by_label("设置密码").fill(PASSWORD)
    plain.get_by_label("再次输入密码").fill(PASSWORD)
    plain.get_by_role("button", name="激活").click()
    plain.get_by_label("密码").fill(PASSWORD)
    plain.get_by_role("button", name="登录").click()
    plain.goto(f"/admin/points/{code}")
    expect(plain.get_by_test_id(STATE)).to_have_text("已激活")
    plain.get_by_role("button", name="开展业务").click()
    expect(plain.get_by_role("alert")).to_contain_text("还不能开展业务，尚缺：服务窗口")
    add_staff(plain, f"{code.lower()}-tech", "技术人员")
    expect(plain.get_by_test_id("point-needs")).to_contain_text("✓ 技术人员：已有")
