"""What the pages call things, in plain Chinese a township clerk understands: the names of
statuses, kinds and levels, and the APIs' reasons (written in English for machines and
logs) as a clerk reads them. A reason with no wording here is shown as the API gave it."""

from __future__ import annotations

import re
from collections.abc import Callable

APPLICATION_STATUS = {
    "in_review": "审核中",
    "returned": "退回补正",
    "approved": "已通过",
    "rejected": "未通过",
    "withdrawn": "已撤回",
}
APPLICATION_KIND = {
    "account_opening": "开户申请",
    "deposit": "学习成果存入",
    "conversion": "学分转换",
    "certificate": "学习成果证明",
    "import": "社会培训成果批量导入",
}
OUTCOME_KIND = {
    "academic_credit": "学历教育课程学分",
    "vocational_certificate": "职业资格证书",
    "skill_certificate": "职业技能等级证书",
    "social_training": "社会培训",
    "competition_award": "竞赛获奖",
    "other": "其他学习成果",
}
LEVEL = {
    "acceptance_point": "受理点",
    "subcentre": "分中心",
    "branch": "分部",
    "province": "省中心",
}
DOCUMENT_TYPE = {
    "resident_id": "居民身份证",
    "hkmo_residence_permit": "港澳居民居住证",
    "tw_residence_permit": "台湾居民居住证",
    "foreign_permanent_residence": "外国人永久居留身份证",
    "passport": "护照",
    "hkmo_travel_permit": "港澳居民来往内地通行证",
    "tw_travel_permit": "台湾居民来往大陆通行证",
}
POINT_STATE = {
    "LISTED": "已列入名单",
    "ALLOCATED": "已分配管理员账号",
    "ACTIVE": "已激活",
    "OPERATING": "开展业务中",
    "SUSPENDED": "已暂停",
}
EVENT = {
    "taken": "受理",
    "passed_up": "审核通过，报送上级",
    "approved": "审核通过",
    "rejected": "审核不通过",
    "returned": "退回补正",
    "resubmitted": "补正后重新提交",
    "withdrawn": "撤回",
}
IMPORT_STATUS = {
    "received": "已收到，等待读取",
    "processing": "正在读取",
    "in_review": "审核中",
    "no_records": "没有可导入的记录",
    "refused": "已拒收（行数超过上限）",
    "approved": "已通过",
    "rejected": "未通过",
    "withdrawn": "已撤回",
}
ACCOUNT_STATUS = {"pending": "开户审核中", "open": "正常", "closed": "未开立"}
ROLE = {
    "admin": "管理员",
    "management": "管理人员",
    "technical": "技术人员",
    "service": "服务窗口人员",
    "reviewer": "审核人员",
    "bureau": "教育行政部门",
}
GENDER = {"male": "男", "female": "女"}

# API reasons, matched whole, as a clerk reads them.
REASONS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"Missing data for required field\.?|required"), "必填"),
    (re.compile(r"Not a valid date\.?"), "日期格式不正确（例如 2026-03-01）"),
    (re.compile(r"Not a valid number\.?"), "请填写数字"),
    (re.compile(r"Unknown field\.?"), "无法识别的项目"),
    (re.compile(r"must not be in the future"), "不能晚于今天"),
    (re.compile(r"must not be before 1950"), "不能早于 1950 年"),
    (re.compile(r"must not be before start_date"), "不能早于开始日期"),
    (
        re.compile(r"check character is wrong: expected (\S+), got (\S+)"),
        r"校验码不正确（应为 \1）",
    ),
    (re.compile(r"must be 18 characters, got (\d+)"), r"应为 18 位，现为 \1 位"),
    (re.compile(r"must be 17 digits followed by a digit or X"), "应为 17 位数字加 1 位数字或 X"),
    (re.compile(r"birth date (\d+) is not a real date"), r"出生日期 \1 不存在"),
    (re.compile(r"birth date (\d+) is in the future"), r"出生日期 \1 晚于今天"),
    (
        re.compile(r"must be written in ASCII .*full-width characters are not accepted"),
        "请用半角字符输入，不要用全角",
    ),
    (
        re.compile(r"must be a mainland mobile number.*"),
        "应为 11 位手机号码（13 至 19 开头，不加 +86）",
    ),
    (re.compile(r"must not contain digits"), "姓名不能含数字"),
    (
        re.compile(r"must be written wholly in Chinese or wholly in Latin letters, not mixed"),
        "姓名应全部为汉字或全部为拼音字母",
    ),
    (re.compile(r"does not agree with the document number.*"), "与证件号码不一致"),
    (re.compile(r"already has learning account (\S+)"), r"已有学习账户 \1"),
    (re.compile(r"an opening application is already under way"), "已有开户申请正在审核"),
    (re.compile(r"the username or password is wrong"), "用户名或密码不正确"),
    (re.compile(r"too many failed logins.*"), "登录失败次数过多，请稍后再试"),
    (re.compile(r"no learning account holds this document"), "没有找到该证件的学习账户"),
    (re.compile(r"a reason is required to (\w+)"), "请填写理由"),
    (re.compile(r"required to (\w+)"), "请填写理由"),
]


def reason(text: str | None) -> str:
    """An API's reason as a clerk reads it (unknown ones as given)."""
    if not text:
        return ""
    for pattern, wording in REASONS:
        if pattern.fullmatch(text.strip()):
            return pattern.sub(wording, text.strip())
    return text


def _named(table: dict[str, str]) -> Callable[[str | None], str]:
    return lambda value: table.get(value or "", value or "")


FILTERS = {
    "status_name": _named(APPLICATION_STATUS),
    "kind_name": _named(APPLICATION_KIND),
    "outcome_kind_name": _named(OUTCOME_KIND),
    "level_name": _named(LEVEL),
    "document_type_name": _named(DOCUMENT_TYPE),
    "state_name": _named(POINT_STATE),
    "event_name": _named(EVENT),
    "account_status_name": _named(ACCOUNT_STATUS),
    "import_status_name": _named(IMPORT_STATUS),
    "role_name": _named(ROLE),
    "gender_name": _named(GENDER),
    "reason": reason,
}
