"""What the window's forms share: the fields of each outcome kind (labels in Chinese, in
the order a clerk fills them; which are required and what they may hold come from intake's
own OpenAPI document, never a copy), the Idempotency-Key a form carries so that a double
click or a retried submit never makes two applications, and reading a submitted form into
the body an API expects. No rule is checked here: the APIs check, the pages show answers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any

from werkzeug.datastructures import MultiDict


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    type: str = "text"  # text, date, number, select, textarea
    hint: str | None = None
    required: bool = False  # as intake's schema says (``outcome_fields``)
    choices: tuple[str, ...] = ()
    max_length: int | None = None


OUTCOME_FIELDS: dict[str, tuple[Field, ...]] = {
    "social_training": (
        Field("organiser", "培训机构"),
        Field("programme", "培训项目"),
        Field("hours", "学时", "number"),
        Field("start_date", "开始日期", "date"),
        Field("end_date", "结束日期", "date"),
        Field("certificate_number", "结业证书编号"),
    ),
    "vocational_certificate": (
        Field("certificate_name", "证书名称"),
        Field("certificate_number", "证书编号"),
        Field("issuing_authority", "发证机关"),
        Field("level", "等级", "select"),
        Field("issued_on", "发证日期", "date"),
    ),
    "skill_certificate": (
        Field("skill_name", "技能名称"),
        Field("level", "等级", "select"),
        Field("certificate_number", "证书编号"),
        Field("issuing_authority", "发证机构"),
        Field("issued_on", "发证日期", "date"),
    ),
    "academic_credit": (
        Field("institution", "院校"),
        Field("course_name", "课程名称"),
        Field("course_code", "课程代码"),
        Field("credits", "学分", "number"),
        Field("grade", "成绩"),
        Field("completed_on", "修完日期", "date"),
        Field("certificate_number", "成绩证明编号"),
    ),
    "competition_award": (
        Field("competition", "竞赛名称"),
        Field("organiser", "主办单位"),
        Field("award", "奖项", "select"),
        Field("awarded_on", "获奖日期", "date"),
        Field("certificate_number", "证书编号"),
    ),
    "other": (
        Field("title", "成果名称"),
        Field("description", "成果说明", "textarea"),
        Field("issued_on", "取得日期", "date"),
        Field("issuer", "颁发单位"),
        Field("certificate_number", "证明编号"),
    ),
}

LEARNER_LABELS = {
    "document_type": "证件类型",
    "document_number": "证件号码",
    "name": "姓名",
    "phone": "手机号码",
    "email": "电子邮箱",
    "verification_method": "身份核验方式",
    "gender": "性别",
    "birth_date": "出生日期",
    "attachments": "证明材料",
    "account_number": "学习账号",
    "account_ref": "学习账户",
    "outcome_kind": "成果类型",
    "reason": "理由",
}


def component(kind: str) -> str:
    """The kind's schema in intake's OpenAPI document (``social_training``:
    ``SocialTrainingOutcome``)."""
    return "".join(part.title() for part in kind.split("_")) + "Outcome"


def outcome_fields(kind: str, schema: dict[str, Any]) -> list[Field]:
    """The kind's fields as the window shows them, each completed from the outcome's schema
    in intake's OpenAPI document (``schema``: its ``<Kind>Outcome`` component): required or
    not, the choices of a select, the longest value."""
    properties, required = schema.get("properties", {}), set(schema.get("required", []))
    return [
        replace(
            field,
            required=field.name in required,
            choices=tuple(properties.get(field.name, {}).get("enum", ())),
            max_length=properties.get(field.name, {}).get("maxLength"),
            hint=_range(properties.get(field.name, {})) or field.hint,
        )
        for field in OUTCOME_FIELDS.get(kind, ())
    ]


def _range(prop: dict[str, Any]) -> str | None:
    low = prop.get("minimum", prop.get("x-minimum"))
    high = prop.get("maximum", prop.get("x-maximum"))
    if low is None or high is None:
        return None
    return f"{_plain(low)} 至 {_plain(high)}，最多两位小数"


def _plain(value: Any) -> str:
    text = str(value)
    return text.rstrip("0").rstrip(".") if "." in text else text


def labels(outcome_kind: str | None = None) -> dict[str, str]:
    """Every field's label by the name an API's error gives it (``outcome.hours``)."""
    found = dict(LEARNER_LABELS)
    for field in OUTCOME_FIELDS.get(outcome_kind or "", ()):
        found[f"outcome.{field.name}"] = field.label
    return found


def idempotency_key(form: MultiDict[str, str] | None = None) -> str:
    """The form's key: the one it was rendered with (a resubmit of the same form), or new."""
    given = (form or MultiDict()).get("idempotency_key", "")
    try:
        return str(uuid.UUID(given))
    except ValueError:
        return str(uuid.uuid4())


def outcome_from(form: MultiDict[str, str], kind: str) -> dict[str, Any]:
    """The outcome's fields as the form sent them (blank ones left out: intake says which it
    requires)."""
    return {
        field.name: form.get(f"outcome.{field.name}", "").strip()
        for field in OUTCOME_FIELDS.get(kind, ())
        if form.get(f"outcome.{field.name}", "").strip()
    }


def learner_from(form: MultiDict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {
        name: form.get(name, "").strip()
        for name in ("document_type", "document_number", "name", "phone", "verification_method")
    }
    if form.get("email", "").strip():
        body["email"] = form.get("email", "").strip()
    body["attachments"] = [sha for sha in form.getlist("attachments") if sha]
    return body
