"""What the pages call things, in plain Chinese a township clerk understands: the names of
statuses, kinds and levels, and the APIs' reasons (written in English for machines and
logs) as a clerk reads them. A reason with no wording here is shown as the API gave it."""

from __future__ import annotations

import re
from collections.abc import Callable

from shared.clock import china_time

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
AUDIT_ACTION = {
    "point.listed": "列入受理点名单",
    "point.allocated": "分配管理员账号",
    "point.activated": "激活管理员账号",
    "point.window_set": "登记服务窗口",
    "point.operating": "开展业务",
    "point.suspended": "暂停受理点",
    "point.reinstated": "恢复受理点",
    "staff.created": "创建人员账号",
    "staff.deactivated": "停用人员账号",
    "staff.reactivated": "恢复人员账号",
    "staff.first_admin_created": "创建首位省中心管理员",
    "auth.refresh_reuse": "登录凭证被重复使用，已注销该次登录",
}
# What a point lacks to start business, as org names it (``missing``).
GAP = {"window": "服务窗口", **ROLE}

# API reasons, matched whole, as a clerk reads them.
# A wording is a template (``\\1`` for what the reason names) or, where what it names is
# itself a code (a state, a role, a time), a function of the match that words it too.
Wording = str | Callable[[re.Match[str]], str]
REASONS: list[tuple[re.Pattern[str], Wording]] = [
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


# --- org's reasons, as the admins' screens and the activation page meet them -------------

STEP = {
    "allocation": "分配管理员账号",
    "activation": "激活",
    "registering the window": "登记服务窗口",
    "starting business": "开展业务",
    "reinstatement": "恢复",
}


def _states(codes: str) -> str:
    return "或".join(f"「{POINT_STATE.get(c, c)}」" for c in codes.split(" or "))


def _names(table: dict[str, str], codes: str) -> str:
    return "、".join(table.get(c.strip(), c.strip()) for c in codes.split(","))


def _wrong_state(m: re.Match[str]) -> str:
    step = STEP.get(m[3], m[3])
    return f"受理点 {m[1]} 当前为{_states(m[2])}，{step}须在{_states(m[4])}时办理"


REASONS += [
    (re.compile(r"Length must be between (\d+) and (\d+)\."), r"长度应为 \1 至 \2 个字符"),
    (re.compile(r"Must be one of: .*"), "请从列表中选择"),
    (
        re.compile(r"must be a unit code: ZJ, B01, S001 or AP000001"),
        "应为单位代码，例如 ZJ、B01、S001 或 AP000001",
    ),
    (re.compile(r"unit (\S+) not found"), r"没有找到单位 \1（或不在您的管辖范围内）"),
    (
        re.compile(r"acceptance point (\S+) not found"),
        r"没有找到受理点 \1（或不在您的管辖范围内）",
    ),
    (re.compile(r"staff (\d+) not found"), "没有找到该账号（或不在您的管辖范围内）"),
    # signing in, and acting, as what one's account and point allow
    (re.compile(r"this account is deactivated"), "该账号已停用"),
    (re.compile(r"this sign-in has been revoked; sign in again"), "本次登录已失效，请重新登录"),
    (
        re.compile(r"acceptance point (\S+) is suspended; its staff cannot sign in"),
        r"受理点 \1 已暂停，本点人员暂时不能登录",
    ),
    (
        re.compile(r"acceptance point (\S+) is suspended; its staff cannot act"),
        r"受理点 \1 已暂停，本点人员暂时不能办理业务",
    ),
    # accounts: usernames, passwords, roles
    (re.compile(r"the username is not valid"), "用户名不符合要求"),
    (
        re.compile(r"3-64 of a-z, 0-9, '\.', '_' or '-', starting alphanumeric"),
        "应为 3 至 64 位小写字母、数字、点、下划线或连字符，以字母或数字开头",
    ),
    (re.compile(r"username (\S+) is taken"), r"用户名 \1 已被使用"),
    (re.compile(r"already taken"), "已被使用"),
    (re.compile(r"the password does not meet the policy"), "密码不符合要求"),
    (re.compile(r"must be (\d+) to (\d+) characters long"), r"长度应为 \1 至 \2 位"),
    (
        re.compile(r"must mix letters with digits or symbols"),
        "不能全是字母或全是数字，须有字母和数字（或符号）",
    ),
    (re.compile(r"the roles do not fit the unit"), "所选岗位与该单位不符"),
    (re.compile(r"at least one role is required"), "请至少选择一个岗位"),
    (
        re.compile(r"not allowed at an? (\w+): (.+); allowed: (.+)"),
        lambda m: (
            f"{LEVEL.get(m[1], m[1])}不设{_names(ROLE, m[2])}岗位；可选：{_names(ROLE, m[3])}"
        ),
    ),
    (re.compile(r"only an admin creates staff accounts"), "只有管理员可以创建人员账号"),
    (
        re.compile(r"only the acceptance point's own admin registers its staff"),
        "受理点的人员由本受理点的管理员登记",
    ),
    (
        re.compile(r"acceptance point (\S+) is (\w+); staff are registered once it is ACTIVE"),
        lambda m: f"受理点 {m[1]} 当前为{_states(m[2])}，激活后方可登记人员",
    ),
    (re.compile(r"an admin cannot deactivate their own account"), "不能停用自己的账号"),
    (re.compile(r"account (\S+) is already active"), r"账号 \1 本来就是正常状态"),
    (re.compile(r"account (\S+) is already deactivated"), r"账号 \1 已经停用"),
    (
        re.compile(r"only an admin deactivates or reactivates accounts"),
        "只有管理员可以停用或恢复账号",
    ),
    # the point's life: listing, allocation, activation, window, start, suspension
    (
        re.compile(r"only an education bureau's account lists acceptance points"),
        "受理点由教育行政部门列入名单",
    ),
    (
        re.compile(r"acceptance points sit under a branch or a sub-centre"),
        "受理点的上级须为分部或分中心",
    ),
    (
        re.compile(r"(\S+) is a (province|acceptance_point)"),
        lambda m: f"{m[1]} 是{LEVEL.get(m[2], m[2])}",
    ),
    (
        re.compile(r"(\S+) already has an acceptance point named (.+)"),
        r"\1 已有名为「\2」的受理点",
    ),
    (re.compile(r"already listed as (\S+)"), r"已列入名单，代码 \1"),
    (
        re.compile(r"the admin account is allocated by the point's own sub-centre or branch"),
        "管理员账号由受理点所属的分中心或分部分配",
    ),
    (
        re.compile(
            r"acceptance point (\S+) is ALLOCATED and its activation code is valid until (\S+)"
        ),
        lambda m: (
            f"受理点 {m[1]} 已分配管理员账号，激活码在 {china_time(m[2])} 前有效；"
            "过期仍未激活的，方可重新分配"
        ),
    ),
    (re.compile(r"the admin's phone number is not valid"), "管理员手机号码不正确"),
    (re.compile(r"the activation code is not valid for this account"), "激活码与用户名不符"),
    (
        re.compile(r"unknown, used, or for another account"),
        "不正确、已经用过，或不属于这个用户名",
    ),
    (re.compile(r"the activation code has expired"), "激活码已过期"),
    (
        re.compile(r"expired; ask your sub-centre or branch to allocate again"),
        "已过期，请联系分中心或分部重新分配",
    ),
    (
        re.compile(r"only the acceptance point's own admin does this"),
        "此项由受理点本点的管理员办理",
    ),
    (
        re.compile(r"acceptance point (\S+) cannot start business yet: it lacks (.+)"),
        lambda m: f"受理点 {m[1]} 还不能开展业务，尚缺：{_names(GAP, m[2])}",
    ),
    (
        re.compile(r"only an admin or manager of a superior unit suspends or reinstates"),
        "只有上级单位的管理员或管理人员可以暂停、恢复受理点",
    ),
    (re.compile(r"acceptance point (\S+) is already SUSPENDED"), r"受理点 \1 已经暂停"),
    (re.compile(r"acceptance point (\S+) is (\w+); (.+) needs it (.+)"), _wrong_state),
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
    "action_name": _named(AUDIT_ACTION),
    "gap_name": _named(GAP),
    "reason": reason,
}
