"""A bulk import in the browser, through the real services and import workers: the clerk
downloads the template, sends a file with good, invalid and repeated rows, watches it read,
sees every row refused (row, column, reason in Chinese) and downloads them; the point's
reviewer checks the batch's figures and sample rows and approves it less two rows; the
sub-centre approves it; the import's records say what became of each."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from playwright.sync_api import Browser, Page, expect

from tests.helpers import wait_for
from tests.import_data import HEADERS, generate, to_csv
from tests.window.conftest import World, check_page, sign_in
from tests.window.test_review import Point, browser_of, decide_in_page, open_case

ROWS = 40  # data rows; the header is row 1
# What the clerk must read for each row refused (generate(40): a fault every 7th row from the
# 4th, a repeat every 11th unless the row before it is faulty), in Chinese.
REFUSED = {
    5: ("证件号码", "无效", "校验码不正确"),
    12: ("姓名", "无效", "必填"),
    19: ("手机号码", "无效", "应为 11 位手机号码"),
    24: ("整行", "重复", "与本文件第 23 行重复"),
    26: ("学时", "无效", "应为数字，最多两位小数"),
    33: ("学时", "无效", "应在 0.5 至 2000 之间"),
    35: ("整行", "重复", "与本文件第 34 行重复"),
    40: ("开始日期", "无效", "日期格式不正确（例如 2026-03-01）"),
}
NOT_TAKEN = {3: "结业证书未见", 7: "学员未参加本次培训"}  # rows the point's reviewer refuses


def downloaded(page: Page, link: str) -> tuple[str, bytes]:
    with page.expect_download() as got:
        page.get_by_role("link", name=link).click()
    return got.value.suggested_filename, Path(got.value.path()).read_bytes()


def test_an_import_with_errors_through_review(
    page: Page,
    browser: Browser,
    browser_context_args: dict[str, Any],
    world: World,
    tmp_path: Path,
) -> None:
    point = Point(world, "S004")
    upper = world.staff("S004", "reviewer")
    sign_in(page, point.people["service"])
    page.get_by_role("link", name="批量导入").first.click()
    check_page(page)

    # The template, as a workbook and as CSV, with the Chinese headers.
    name, workbook = downloaded(page, "Excel 模板")
    assert name.endswith(".xlsx")
    sheet = load_workbook(io.BytesIO(workbook)).active
    assert sheet is not None and [c.value for c in sheet[1]] == list(HEADERS)
    name, template = downloaded(page, "CSV 模板")
    assert name.endswith(".csv") and template.startswith(b"\xef\xbb\xbf")
    assert next(csv.reader(io.StringIO(template.decode("utf-8-sig")))) == list(HEADERS)

    # A file of good rows, faulty ones and repeats.
    generated = generate(ROWS)
    assert set(generated.invalid) | set(generated.duplicate) == set(REFUSED)
    records = tmp_path / "培训记录.csv"
    records.write_bytes(to_csv(generated.rows))
    page.get_by_label("导入文件（CSV 或 XLSX）").set_input_files(str(records))
    page.get_by_role("button", name="上传并导入").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("导入：培训记录.csv")

    # Read in the background; the page follows it until the batch is in review.
    expect(page.get_by_test_id("import-status")).to_have_text("审核中", timeout=60_000)
    expect(page.get_by_test_id("import-counts")).to_have_text(f"{generated.valid} / 6 / 2")
    issues = page.get_by_test_id("issues").locator("tbody tr")
    expect(issues).to_have_count(len(REFUSED))
    for line, (row, (column, kind, reason)) in zip(
        issues.all(), sorted(REFUSED.items()), strict=True
    ):
        cells = line.locator("td")
        expect(cells.nth(0)).to_have_text(str(row))
        expect(cells.nth(1)).to_have_text(column)
        expect(cells.nth(2)).to_have_text(kind)
        expect(cells.nth(4)).to_contain_text(reason)
    check_page(page)

    name, errors = downloaded(page, re.compile("下载未导入的行"))
    assert name.endswith("-errors.csv") and errors.startswith(b"\xef\xbb\xbf")
    lines = list(csv.reader(io.StringIO(errors.decode("utf-8-sig"))))
    assert lines[0] == ["行号", "列", "类型", "值", "原因"]
    assert [(int(r), c, k) for r, c, k, _, _ in lines[1:]] == [
        (row, column, kind) for row, (column, kind, _) in sorted(REFUSED.items())
    ]
    for row, _, _, _, reason in lines[1:]:
        assert REFUSED[int(row)][2] in reason, (row, reason)
    assert "*" in lines[1][3]  # the ID number refused is shown masked, never whole

    # The point's reviewer: the batch's figures, 20 sample rows over the whole file, masked.
    application = str(
        wait_for(
            lambda: world.api("intake", point.token("service")).ok("GET", "/imports")["items"][0][
                "application_id"
            ]
        )
    )
    point.wait_case(application)
    reviewer = browser_of(browser, browser_context_args, point.people["reviewer"])
    open_case(reviewer, point, application)
    expect(reviewer.get_by_test_id("batch-records")).to_have_text(str(generated.valid))
    expect(reviewer.get_by_test_id("batch")).to_contain_text("6 / 2")
    samples = reviewer.get_by_test_id("samples").locator("tbody tr")
    expect(samples).to_have_count(20)
    shown = [int(row.locator("td").first.inner_text()) for row in samples.all()]
    assert shown[0] == 2 and shown[-1] == max(
        n for n in range(2, ROWS + 2) if n not in REFUSED
    )  # from the first record to the last
    for row in samples.all():
        name_cell, number_cell = row.locator("td").nth(1), row.locator("td").nth(2)
        assert "*" in name_cell.inner_text() and "*" in number_cell.inner_text()
    check_page(reviewer)

    # A row that is not a record of the batch is refused beside the rows box; then two rows
    # are refused with their reasons and the rest approved.
    decide_in_page(reviewer, "通过", rows="5：证件号码有误")
    expect(reviewer.locator("#f-rejected_rows-note")).to_have_text(
        "第 1 条：第 5 行不是本批次的有效记录"
    )
    check_page(reviewer)
    chosen = "\n".join(f"{row}：{why}" for row, why in NOT_TAKEN.items())
    decide_in_page(reviewer, "通过", rows=chosen)
    expect(reviewer.get_by_role("status").first).to_contain_text("已报送上一级")

    # The sub-centre sees what the point decided, and approves.
    point.wait_case(application, upper)
    sub_centre = browser_of(browser, browser_context_args, upper)
    open_case(sub_centre, point, application)
    expect(sub_centre.get_by_test_id("earlier")).to_contain_text("受理点 · 审核通过，报送上级")
    sub_centre.get_by_role("link", name="已标记不予记入的行").click()
    expect(sub_centre.get_by_test_id("records").locator("tbody tr")).to_have_count(2)
    check_page(sub_centre)
    sub_centre.go_back()
    decide_in_page(sub_centre, "通过")
    expect(sub_centre.get_by_role("status").first).to_contain_text("通过（终审）")

    # What became of each record: two not taken, with the point's reasons; the rest taken.
    point.wait_application(application, "approved")
    page.reload()
    page.get_by_role("link", name=re.compile("条记录及审核结果")).click()
    expect(page.get_by_test_id("import-status")).to_have_text("已通过")
    table = page.get_by_test_id("records")
    expect(table.locator("tbody tr")).to_have_count(generated.valid)
    for row, why in NOT_TAKEN.items():
        expect(table.locator(f"tr[data-row='{row}']").get_by_test_id("record-status")).to_have_text(
            f"不予记入（受理点）：{why}"
        )
    expect(table.get_by_test_id("record-status").filter(has_text="已记入")).to_have_count(
        generated.valid - len(NOT_TAKEN)
    )
    check_page(page)
