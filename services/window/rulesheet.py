"""A version's rules as a sheet (CSV) and back: one row a rule, one column a field of
intake's ``Rule`` schema, the values as intake gives them, so that a sheet downloaded and
uploaded unchanged gives the same rules, and downloaded again the same bytes. Nothing is
checked here: intake refuses what a rule may not hold, naming its row and its field."""

from __future__ import annotations

import csv
import io
from typing import Any

# The columns in the order an administrator reads a rule: what it takes, its conditions,
# its target, what it gives (intake's field names, the sheet's header; labels for pages).
COLUMNS: dict[str, str] = {
    "source": "来源",
    "catalogue_code": "证书目录代码",
    "organiser": "培训机构",
    "source_institution": "来源院校",
    "source_course": "来源课程代码",
    "min_level": "最低等级",
    "min_hours": "最少学时",
    "min_score": "最低成绩",
    "max_age_years": "有效年限",
    "target_institution": "目标院校",
    "target_programme": "目标专业",
    "target_course": "目标课程",
    "method": "计算方式",
    "credits": "学分",
    "hours_per_credit": "每学分学时",
    "max_credits": "最多学分",
}
BOM = "\ufeff"  # so that Excel opens the sheet as UTF-8


def dump(rules: list[dict[str, Any]]) -> str:
    """The rules as CSV text (a header, then one row a rule; an empty cell for none)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for rule in rules:
        writer.writerow(["" if rule.get(name) is None else rule[name] for name in COLUMNS])
    return out.getvalue()


class SheetError(ValueError):
    """The sheet is not one of rules (its header is not the columns)."""


def load(text: str, integers: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """The rules of a sheet as intake takes them: empty cells left out, ``integers`` (the
    columns intake's schema types as integers) as numbers when they are written as one."""
    reader = csv.reader(io.StringIO(text.removeprefix(BOM)))
    header = next(reader, None)
    if header is None:
        return []
    header = [name.strip() for name in header]
    unknown = [name for name in header if name not in COLUMNS]
    if unknown or not header:
        raise SheetError(f"unknown columns: {', '.join(unknown)}")
    rules = []
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        rule: dict[str, Any] = {}
        for name, cell in zip(header, row, strict=False):
            value = cell.strip()
            if value:
                rule[name] = int(value) if name in integers and value.isdigit() else value
        rules.append(rule)
    return rules


def read_upload(data: bytes) -> str:
    """An uploaded sheet's text: UTF-8 (with or without its BOM), or GBK as Excel saves it
    on a Chinese Windows."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("gbk", errors="replace")
