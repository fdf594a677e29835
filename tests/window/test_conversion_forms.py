"""What the conversion screens do between a page and intake, without a browser: the rule
sheet round-trips exactly, and intake's field errors land beside the fields they name (an
outcome by its ledger entry, a rule by its row, a cap by its kind), in plain Chinese."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from services.window import rulesheet, wording
from services.window.apis import ApiError
from services.window.conversion import conversion_errors, request_body
from services.window.standards import version_errors

RULES = [
    {"number": 1, "id": 7, "source": "certificate", "catalogue_code": "SAMPLE-WEB",
     "min_level": "中级", "max_age_years": 3, "target_institution": "SAMPLE-OU",
     "target_programme": "SAMPLE-OU-CS", "target_course": None, "method": "fixed",
     "credits": "3.0", "organiser": None},
    {"source": "training", "organiser": "杭州市\"工匠\"学院, 上城", "min_hours": "16.00",
     "target_institution": "SAMPLE-OU", "target_programme": "SAMPLE-OU-CS",
     "method": "per_hours", "hours_per_credit": "16.00", "max_credits": "6.0"},
]  # fmt: skip


def test_a_sheet_uploaded_unchanged_gives_the_same_rules_and_the_same_sheet() -> None:
    sheet = rulesheet.dump(RULES)
    loaded = rulesheet.load(rulesheet.BOM + sheet, frozenset({"max_age_years"}))
    assert loaded[0]["max_age_years"] == 3 and "target_course" not in loaded[0]
    assert loaded[1]["organiser"] == '杭州市"工匠"学院, 上城'
    assert rulesheet.dump(loaded) == sheet
    gbk = rulesheet.read_upload(sheet.encode("gbk"))
    assert rulesheet.dump(rulesheet.load(gbk, frozenset({"max_age_years"}))) == sheet


def test_a_sheet_of_other_columns_is_refused_naming_them() -> None:
    with pytest.raises(rulesheet.SheetError) as refused:
        rulesheet.load("source,credit\r\ntraining,2\r\n")
    assert wording.reason(str(refused.value)) == "无法识别的列：credit"
    assert rulesheet.load("") == []


def test_a_version_refused_is_shown_by_row_and_by_cap() -> None:
    refused = ApiError(422, "version 2 of ZJ-T cannot be published as it stands", [
        {"field": "rules.3.max_credits",
         "reason": "gives up to 10 credits, above the per_outcome cap of 8"},
        {"field": "rules.0",
         "reason": "contradicts rule 2: the same outcomes and target, other credits"},
        {"field": "caps.1.limit", "reason": "must be a number above 0"},
        {"field": "caps.0.year_starts", "reason": "must be a day as MM-DD"},
        {"field": "rules", "reason": "a version holds at least one rule"},
    ])  # fmt: skip
    errors = version_errors(refused, ["per_year", "per_outcome"])
    assert errors["rules"] == (
        "第 4 条规则（最多学分）：最多可给 10 学分，超过每项成果上限 8 学分；"
        "第 1 条规则：与第 2 条规则矛盾：成果和目标相同，学分不同；每个版本至少要有一条规则"
    )
    assert errors["cap.per_outcome"] == "须为大于 0 的数字"
    assert errors["cap.per_year.year_starts"] == "应为“月-日”，例如 03-01"


def test_a_conversion_refused_is_shown_beside_each_outcome_by_its_entry() -> None:
    errors = conversion_errors(
        [
            {"field": "outcomes.1", "reason": "outcome 12 is already reserved by conversion a-1"},
            {"field": "outcomes.0", "reason": "condition not met: level 初级 is below 中级"},
            {"field": "caps.per_year", "reason": "the per_year cap of 42 credits would be "
             "exceeded: 40 already used, 3 asked"},
            {"field": "target.programme", "reason": "not in the catalogue"},
            {"field": "outcomes", "reason": "Length must be between 1 and 50."},
        ],
        [9, 12],
    )  # fmt: skip
    shown = {name: wording.reason(text) for name, text in errors.items()}
    assert shown == {
        "outcome.12": "该成果已被另一笔学分转换申请占用（申请 a-1），在其审核结束前不能再次转换",
        "outcome.9": "不符合转换条件：等级 初级 低于 中级",
        "caps": "将超过每学年上限 42 学分：已用 40，本次申请 3",
        "target": "转换目录中没有",
        "outcomes": "请选择至少 1 项、至多 50 项学习成果",
    }


def test_the_form_becomes_intakes_request() -> None:
    form = MultiDict([
        ("outcomes", "9"), ("outcomes", "12"), ("standard", "ZJ-SAMPLE"),
        ("target", "SAMPLE-OU|SAMPLE-OU-CS|"), ("expert", "1"),
        ("expert.credits", "2.5"), ("expert.reason", " 无适用规则，经专家认定 "),
    ])  # fmt: skip
    assert request_body("ZJ202600000001", form) == {
        "account_number": "ZJ202600000001",
        "outcomes": [9, 12],
        "standard": "ZJ-SAMPLE",
        "target": {"institution": "SAMPLE-OU", "programme": "SAMPLE-OU-CS"},
        "expert": {"credits": "2.5", "reason": "无适用规则，经专家认定"},
    }
    unticked = MultiDict([("expert.credits", "2.5"), ("target", "")])
    assert request_body("ar1.x", unticked) == {"account_ref": "ar1.x", "outcomes": []}
