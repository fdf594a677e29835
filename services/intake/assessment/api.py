"""The assessment endpoint (考核): figures by unit as JSON, or exported as CSV or XLSX."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

from flask import Flask, current_app
from flask_smorest import Blueprint
from marshmallow import RAISE
from openpyxl import Workbook
from openpyxl.utils import get_column_letter

from services.intake.api import BEARER
from services.intake.assessment import figures
from services.intake.assessment.schemas import AssessmentArgs, AssessmentSchema
from services.intake.context import db
from shared.auth import current_principal
from shared.settings import Settings
from shared.web import SPREADSHEET_TYPES, download

blp = Blueprint("assessment", __name__, description="The assessment figures, by the org tree")
WEIGHTS = "intake_assessment_weights"
REPORT_SCHEMA = AssessmentSchema()
KIND_NAMES = {
    "academic_credit": "学历教育学分",
    "vocational_certificate": "职业资格证书",
    "skill_certificate": "职业技能等级证书",
    "social_training": "社会培训",
    "competition_award": "竞赛获奖",
    "other": "其他",
}
HEADERS = {
    "unit_code": "单位代码",
    "level": "层级",
    "path": "单位路径",
    "accounts_opened": "开户数",
    "deposits": "成果存入数",
    "social_training_records": "社会培训记录数",
    "social_training_hours": "社会培训学时",
    "decided": "办结申请数",
    "rejected": "不予通过数",
    "turnaround_median_hours": "审核时长中位数（小时）",
    "turnaround_p90_hours": "审核时长第90百分位（小时）",
    "rejection_rate": "不通过率",
    "score": "得分",
}
# Exact decimals, shown with their places in the sheet.
DECIMALS = {
    "social_training_hours": "0.00",
    "turnaround_median_hours": "0.00",
    "turnaround_p90_hours": "0.00",
    "rejection_rate": "0.0000",
    "score": "0.00",
}
# The OpenAPI string format of each export's body.
EXPORTS = {"csv": "text", "xlsx": "binary"}


def init_app(app: Flask, settings: Settings) -> None:
    """Read the weights once, at start-up: a bad ``CB_ASSESSMENT_WEIGHTS`` stops the app."""
    app.extensions[WEIGHTS] = figures.parse_weights(settings.assessment_weights)


@blp.get("/assessment")
# Unknown query parameters are refused, not ignored: a misspelt ``unit`` would otherwise
# answer quietly with the caller's own unit.
@blp.arguments(AssessmentArgs, location="query", unknown=RAISE)
@blp.response(200, AssessmentSchema)
@blp.alt_response(404, description="the unit is not in the caller's subtree")
@blp.doc(
    security=BEARER,
    responses={
        200: {  # the int, as @blp.response keys it, so that the two are merged
            "content": {
                SPREADSHEET_TYPES[kind]: {"schema": {"type": "string", "format": fmt}}
                for kind, fmt in EXPORTS.items()
            }
        }
    },
)
def get_assessment(args: dict[str, Any]) -> Any:
    """The assessment figures of a unit (default: the caller's) for a range of days in
    China time, grouped at level ``by``, each group scored (see README: 考核)."""
    report = figures.figures(
        db.session,
        current_principal(),
        args.get("unit"),
        args["date_from"],
        args["date_to"],
        args["by"],
        weights=current_app.extensions[WEIGHTS],
    )
    if args["format"] == "json":
        return report
    body = REPORT_SCHEMA.dump(report)
    content = to_csv(body["rows"]) if args["format"] == "csv" else to_xlsx(body)
    name = f"assessment-{body['unit']}-{body['by']}-{body['from']}-{body['to']}.{args['format']}"
    return download(content, args["format"], name)


def columns(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(key, Chinese header) of every column; a kind per column, extra kinds after ours."""
    found = {kind for row in rows for kind in row["deposits_by_kind"]}
    kinds = [*KIND_NAMES, *sorted(found - set(KIND_NAMES))]
    by_kind = [(f"deposits_by_kind.{k}", f"存入数：{KIND_NAMES.get(k, k)}") for k in kinds]
    keys = list(HEADERS)
    at = keys.index("deposits") + 1
    plain = [(k, HEADERS[k]) for k in keys]
    return [*plain[:at], *by_kind, *plain[at:]]


def cell(row: dict[str, Any], key: str) -> Any:
    if key.startswith("deposits_by_kind."):
        return row["deposits_by_kind"].get(key.split(".", 1)[1], 0)
    return row[key]


def to_csv(rows: list[dict[str, Any]]) -> bytes:
    """UTF-8 with a byte-order mark, so that Excel reads the Chinese headers right."""
    out = io.StringIO()
    writer = csv.writer(out)
    cols = columns(rows)
    writer.writerow([header for _, header in cols])
    for row in rows:
        writer.writerow(["" if cell(row, k) is None else cell(row, k) for k, _ in cols])
    return out.getvalue().encode("utf-8-sig")


def to_xlsx(body: dict[str, Any]) -> bytes:
    """The rows as numbers on a first sheet; the range, scope and weights on a second."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "考核数据"
    cols = columns(body["rows"])
    sheet.append([header for _, header in cols])
    for r, row in enumerate(body["rows"], start=2):
        for c, (key, _) in enumerate(cols, start=1):
            value = cell(row, key)
            target = sheet.cell(r, c, Decimal(value) if key in DECIMALS and value else value)
            target.number_format = DECIMALS.get(key, "General")
    for c, (_, header) in enumerate(cols, start=1):
        sheet.column_dimensions[get_column_letter(c)].width = max(12, 2 * len(header) + 2)
    sheet.freeze_panes = "A2"
    about = book.create_sheet("说明")
    for label, value in (
        ("起始日期", body["from"]),
        ("截止日期", body["to"]),
        ("时区", body["timezone"]),
        ("单位", body["unit"]),
        ("分组层级", body["by"]),
        (
            "数据已定（范围已结束）",
            "是" if body["final"] else "否（范围含今天或以后，数据仍可能增加）",
        ),
    ):
        about.append([label, value])
    for name, weight in body["weights"].items():
        about.append([f"权重：{HEADERS[name]}", Decimal(weight)])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
