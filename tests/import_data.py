"""Files of social-training records with known good, bad and duplicate rows, and what an
import of each must report, row by row."""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass, field
from typing import Any

from services.intake.imports.files import HEADERS
from shared.identity import check_character

GOOD_TRAINING = {
    "organiser": "杭州市职业技能培训中心",
    "programme": "电工初级培训",
    "start_date": "2026-03-01",
    "end_date": "2026-03-20",
    "hours": "48",
}


def resident_id(serial: int, birth: str = "19900307") -> str:
    first17 = f"330102{birth}{serial % 1000:03d}"
    return first17 + check_character(first17)


def person(serial: int) -> dict[str, str]:
    """A distinct learner per serial (birth date and sequence vary)."""
    year, month, day = 70 + serial // 336000 % 30, 1 + serial // 1000 % 12, 1 + serial // 12000 % 28
    birth = f"19{year:02d}{month:02d}{day:02d}"
    return {
        "name": "张三" if serial % 2 else "李四",
        "document_type": "居民身份证",
        "document_number": resident_id(serial % 1000, birth),
        "phone": f"139{serial % 100_000_000:08d}",
    }


@dataclass
class Generated:
    rows: list[dict[str, str]] = field(default_factory=list)
    # row number -> (column header, reason) for each fault the import must report
    invalid: dict[int, list[tuple[str, str]]] = field(default_factory=dict)
    duplicate: dict[int, str] = field(default_factory=dict)  # row number -> reason

    @property
    def valid(self) -> int:
        return len(self.rows) - len(self.invalid) - len(self.duplicate)


BAD_CASES: list[tuple[str, str, str, str]] = [
    # (field, value, column header, reason)
    ("document_number", "WRONG_CHECK", "证件号码", "check character is wrong: expected {}, got {}"),
    ("name", "", "姓名", "required"),
    (
        "phone",
        "12345",
        "手机号码",
        "must be a mainland mobile number: 11 digits starting 13 to 19, without spaces, dashes "
        "or +86",
    ),
    ("hours", "abc", "学时", "not a number with at most 2 decimals"),
    ("hours", "5000", "学时", "must be between 0.5 and 2000"),
    ("start_date", "2026-13-01", "开始日期", "not a date (write it as 2026-03-01)"),
    ("end_date", "2099-01-01", "结束日期", "must not be in the future"),
    ("end_date", "2026-02-01", "结束日期", "must not be before start_date"),
    ("organiser", "x" * 101, "培训机构", "longer than 100 characters"),
    ("certificate_number", "", "证书编号", "required"),
    ("document_type", "驾驶证", "证件类型", "unknown document type"),
]


def generate(count: int, bad_every: int = 7, repeat_every: int = 11, seed: int = 1) -> Generated:
    """``count`` rows: every ``bad_every``-th row has one known fault, every ``repeat_every``-th
    repeats the row before it (an in-file duplicate); the rest are distinct good records."""
    rng = random.Random(seed)
    out = Generated()
    for i in range(count):
        number = i + 2  # the header is row 1
        if i and i % repeat_every == 0 and (number - 1) not in out.invalid:
            out.rows.append(dict(out.rows[-1]))
            first = number - 1
            while first in out.duplicate:  # a repeat of a repeat names the first one
                first -= 1
            out.duplicate[number] = f"repeats row {first} of this file"
            continue
        row = {**person(i), **GOOD_TRAINING, "certificate_number": f"PX{i:08d}"}
        row["hours"] = str(rng.choice([8, 16, 24, 40, 48, 60]))
        if i % bad_every == bad_every // 2:
            field_, value, header, reason = BAD_CASES[(i // bad_every) % len(BAD_CASES)]
            if value == "WRONG_CHECK":  # this row's own number, its last character changed
                right = row["document_number"]
                wrong = "1" if right[-1] != "1" else "2"
                value, reason = right[:-1] + wrong, reason.format(right[-1], wrong)
            row[field_] = value
            out.invalid[number] = [(header, reason)]
        out.rows.append(row)
    return out


FIELD_OF = {
    "姓名": "name",
    "证件类型": "document_type",
    "证件号码": "document_number",
    "手机号码": "phone",
    "培训机构": "organiser",
    "培训项目": "programme",
    "开始日期": "start_date",
    "结束日期": "end_date",
    "学时": "hours",
    "证书编号": "certificate_number",
}


def to_csv(rows: list[dict[str, str]], encoding: str = "utf-8", headers: Any = HEADERS) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(headers)
    for row in rows:
        writer.writerow([row.get(FIELD_OF.get(h, h), "") for h in headers])
    return out.getvalue().encode(encoding)


def to_xlsx(rows: list[dict[str, str]]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(list(HEADERS))
    for row in rows:
        sheet.append([row[FIELD_OF[h]] for h in HEADERS])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
