"""What the pages call things, in plain Chinese a township clerk understands: the names of
statuses, kinds and levels, and the APIs' reasons (written in English for machines and
logs) as a clerk reads them. A reason with no wording here is shown as the API gave it."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from shared.clock import china_time
from shared.identity import DOCUMENT_NAMES

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
DOCUMENT_TYPE = {str(kind): name for kind, name in DOCUMENT_NAMES.items()}
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
    "reversed": "学分转换冲销",
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


# --- the review desk and the bulk imports (services/window/review.py, imports.py) ---------

CHECK = {
    "required_fields": "必填项目",
    "evidence_present": "证明材料已提交",
    "evidence_readable": "证明材料可读",
    "dates_plausible": "日期合理",
    "amounts_within_bounds": "学分学时在范围内",
    "certificate_unique": "证书编号未重复",
    "batch_adds_up": "导入数字相符",
}
INDICATOR = {
    "accounts_opened": "新开账户",
    "deposits": "存入成果",
    "social_training_records": "社会培训记录",
    "social_training_hours": "社会培训学时",
    "decided": "办结",
    "rejected": "不通过",
    "turnaround_median_hours": "审核时长中位数（小时）",
    "turnaround_p90_hours": "审核时长第90百分位（小时）",
    "rejection_rate": "不通过率",
}
RECORD_STATUS = {"pending": "待审核", "approved": "已记入", "rejected": "不予记入"}
ISSUE_KIND = {"invalid": "无效", "duplicate": "重复"}

# What review's automatic checks found (``detail``, one or more parts joined by "; "), as a
# reviewer reads it; a part with no wording here is shown as the check gave it.
CHECK_DETAILS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"a batch of social-training records"), "社会培训成果批次"),
    (re.compile(r"nothing beyond the application itself"), "无需其他项目"),
    (re.compile(r"outcome kind and amount present"), "成果类型和学分（学时）齐全"),
    (re.compile(r"missing: (.+)"), r"缺少：\1"),
    (re.compile(r"the import's file, kept by intake"), "导入文件由系统留存"),
    (re.compile(r"the credits the conversion asks for"), "转换申请的学分已列明"),
    (
        re.compile(r"(\d+) piece\(s\) of evidence of the outcomes converted"),
        r"所转换成果的证明材料 \1 份（存入时已审核）",
    ),
    (re.compile(r"the record's entries, each reviewed already"), "所列各项均已审核"),
    (re.compile(r"(\d+) piece\(s\) of evidence"), r"证明材料 \1 份"),
    (re.compile(r"(\d+) file\(s\) read and hash-checked"), r"\1 个文件可读取，内容与提交时一致"),
    (re.compile(r"(\S+): missing from the evidence store"), r"\1：文件已丢失"),
    (re.compile(r"(\S+): content no longer matches its SHA-256"), r"\1：内容与提交时不一致"),
    (re.compile(r"(\S+): not a PDF, JPEG or PNG"), r"\1：不是 PDF、JPG 或 PNG 文件"),
    (re.compile(r"(\d+) date\(s\) and the submission time"), r"\1 个日期及提交时间均合理"),
    (re.compile(r"submitted in the future"), "提交时间晚于现在"),
    (re.compile(r"end_date (\S+) is before start_date (\S+)"), r"结束日期 \1 早于开始日期 \2"),
    (re.compile(r"(\w+) (\S+) is in the future"), r"\2 晚于今天"),
    (re.compile(r"(\w+) (\S+) is before (\S+)"), r"\2 早于 \3"),
    (re.compile(r"(\S+) hours in (\d+) day\(s\)"), r"\2 天内 \1 学时，超过每天 12 学时"),
    (re.compile(r"credits (\S+), hours (\S+)"), r"学分 \1，学时 \2"),
    (re.compile(r"no certificate number"), "无证书编号"),
    (re.compile(r"not seen in any other application"), "未在其他申请中出现"),
    (re.compile(r"also in application\(s\) (.+)"), r"其他申请中也有此证书编号：\1"),
    (
        re.compile(r"(\d+) rows: (\d+) records, (\d+) invalid, (\d+) duplicate; (\S+) hours"),
        r"共 \1 行：有效 \2 条，无效 \3 条，重复 \4 条；学时合计 \5",
    ),
    (re.compile(r"(\d+) rows accounted for of (\d+)"), r"\2 行中只有 \1 行有着落"),
    (re.compile(r"(\d+) record rows named for (\d+) records"), r"\2 条记录却列出 \1 个行号"),
]

REASONS += [
    # review's refusals
    (re.compile(r"case \S+ is decided; it cannot be \w+"), "该案件已审核完毕，不能再办理"),
    (re.compile(r"case \S+ is withdrawn; it cannot be \w+"), "该申请已被受理点撤回，不能再办理"),
    (
        re.compile(r"case \S+ is claimed by (\S+) until (.+) \(China time\)"),
        r"该案件已由 \1 领取，\2 前其他人不能办理",
    ),
    (re.compile(r"case \S+ is not claimed by you"), "该案件不是由您领取的"),
    (re.compile(r"case \S+ not found"), "没有找到该案件（不属于本单位，或已不存在）"),
    (re.compile(r"deciding cases needs the reviewer role"), "审核需要审核人员权限"),
    (
        re.compile(r"the staff member who took the application cannot approve it"),
        "受理该申请的工作人员不能审核通过自己受理的申请",
    ),
    (
        re.compile(r"you approved this application at the \w+ level already"),
        "您已在另一级审核通过该申请，同一人不能审核通过两次",
    ),
    (re.compile(r"some rows cannot be rejected"), "有的行不能标记为不予记入"),
    (re.compile(r"row (\d+) is not a record of this batch"), r"第 \1 行不是本批次的有效记录"),
    (re.compile(r"row (\d+) is named twice"), r"第 \1 行填写了两次"),
    (
        re.compile(r"a batch is approved or rejected; a file cannot be returned for correction"),
        "批量导入只能通过或不通过，不能退回补正",
    ),
    (
        re.compile(r"approve \(rejecting rows if need be\) or reject a batch"),
        "请选择通过（可标记不予记入的行）或不通过",
    ),
    (
        re.compile(r"rows are rejected while approving the rest; .*"),
        "只有“通过”时才能标记不予记入的行；不通过即整批不予记入",
    ),
    (re.compile(r"only with decision approve"), "只能与“通过”一起填写"),
    (re.compile(r"only an import's batch has rows to reject"), "只有批量导入才能标记不予记入的行"),
    (re.compile(r"this case is not an import's batch"), "该案件不是批量导入"),
    (re.compile(r"Not a valid integer\.?"), "请填写数字"),
    (re.compile(r"Shorter than minimum length 1\.?"), "请填写"),
    (re.compile(r"Must be one of: .*"), "请从选项中选择"),
    # an import's refused rows
    (re.compile(r"not a number with at most 2 decimals"), "应为数字，最多两位小数"),
    (re.compile(r"must be between (\S+) and (\S+)"), r"应在 \1 至 \2 之间"),
    (re.compile(r"not a date \(write it as 2026-03-01\)"), "日期格式不正确（例如 2026-03-01）"),
    (re.compile(r"longer than (\d+) characters"), r"超过 \1 个字"),
    (re.compile(r"unknown document type"), "无法识别的证件类型"),
    (re.compile(r"repeats row (\d+) of this file"), r"与本文件第 \1 行重复"),
    (re.compile(r"the same record as row (\d+) of this file"), r"与本文件第 \1 行是同一条记录"),
    (re.compile(r"already held \(import \S+, row (\d+)\)"), r"已导入过（另一批导入的第 \1 行）"),
    (re.compile(r"already held"), "已有该记录"),
    (re.compile(r"not the name on learning account (\S+)"), r"与学习账户 \1 的姓名不一致"),
    (
        re.compile(r"an application to open this learner's account is still in review"),
        "该学员的开户申请仍在审核中",
    ),
    (re.compile(r"withdrawn: (.+)"), r"受理点已撤回：\1"),
    # an import's file refused whole
    (re.compile(r"the file's columns are not the template's"), "文件的列与模板不一致"),
    (re.compile(r"missing columns: (.+)"), r"缺少列：\1"),
    (re.compile(r"unknown columns: (.+)"), r"无法识别的列：\1"),
    (re.compile(r"repeated columns: (.+)"), r"重复的列：\1"),
    (re.compile(r"send a CSV or XLSX file"), "请上传 CSV 或 XLSX 文件"),
    (
        re.compile(r"the file is an Excel 97-2003 \(\.xls\) workbook.*"),
        "这是旧版 Excel（.xls）文件，请另存为 .xlsx 或 CSV",
    ),
    (
        re.compile(r"the file is (a PDF document|a PNG image|a JPEG image)"),
        "这不是表格文件，请上传 CSV 或 XLSX 文件",
    ),
    (re.compile(r"the file's encoding is not accepted"), "文件编码不受支持"),
    (re.compile(r"encoded as .*; save it as UTF-8 or GBK"), "请将文件另存为 UTF-8 或 GBK 编码"),
    (
        re.compile(r"neither UTF-8 nor GBK text .*"),
        "既不是 UTF-8 也不是 GBK 编码，请另存为 UTF-8 或 GBK",
    ),
    (re.compile(r"the file is (empty|not plain text)"), "文件为空或不是文本文件"),
    (re.compile(r"the workbook is empty|no header row|empty"), "文件为空（没有表头）"),
    (re.compile(r"the file has no rows|a header and no rows"), "文件只有表头，没有数据行"),
    (re.compile(r"a file may hold at most ([\d,]+) rows"), r"每个文件最多 \1 行"),
    (re.compile(r"a file may be at most (\d+) MB"), r"每个文件最大 \1 MB"),
]


def check_detail(text: str | None) -> str:
    """What an automatic check found as a reviewer reads it: whole, or part by part where
    the check listed several problems."""
    whole = _worded(text or "", CHECK_DETAILS)
    if whole != (text or ""):
        return whole
    return "；".join(_worded(part, CHECK_DETAILS) for part in (text or "").split("; ") if part)


def _worded(text: str, table: list[tuple[re.Pattern[str], str]]) -> str:
    for pattern, wording in table:
        if pattern.fullmatch(text.strip()):
            return pattern.sub(wording, text.strip())
    return text


FILTERS.update(
    check_name=_named(CHECK),
    check_detail=check_detail,
    record_status_name=_named(RECORD_STATUS),
    indicator_name=_named(INDICATOR),
    issue_kind_name=_named(ISSUE_KIND),
)


# --- credit conversion (services/window/standards.py, conversion.py) ----------------------

VERSION_STATUS = {"draft": "草稿", "published": "已发布", "retired": "已停止施行"}
CAP = {
    "per_year": "每学年",
    "per_outcome": "每项成果",
    "per_institution": "每所院校",
    "per_programme": "每个专业",
    "certificates": "计入同一专业的证书数",
}
ENTRY_KIND = {"deposit": "存入", "import": "批量导入", "conversion": "学分转换", "reversal": "冲销"}
HELD = {
    "reserved": "已被一笔审核中的学分转换申请占用",
    "consumed": "已转换",
    "reversed": "已转换（后被冲销），不能再次转换",
}

# Why a rule does not take an outcome (``unmet``, parts joined by "; ").
UNMET: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(r"older than (\d+) years on (\S+) \((\S+)\)"),
        r"取得已超过 \1 年（取得于 \3，按 \2 计）",
    ),
    (re.compile(r"level (\S+) is below (\S+)"), r"等级 \1 低于 \2"),
    (re.compile(r"(\S+) hours is fewer than (\S+)"), r"\1 学时少于 \2 学时"),
    (re.compile(r"score (\S+) is below (\S+)"), r"成绩 \1 低于 \2"),
]


def unmet_reason(text: str | None) -> str:
    """A rule's unmet conditions, each as a clerk reads it."""
    return "；".join(_worded(part, UNMET) for part in (text or "").split("; ") if part)


def amount(value: object) -> str:
    """An amount as a person reads it: 8, 2.5 (not 8.0 or 16.00)."""
    text = "" if value is None else str(value)
    return text.rstrip("0").rstrip(".") if "." in text else text


def _cap_exceeded(m: re.Match[str]) -> str:
    unit = "张" if m[1] == "certificates" else "学分"
    return f"将超过{CAP.get(m[1], m[1])}上限 {m[2]} {unit}：已用 {m[4]}，本次申请 {m[5]}"


REASONS += [
    # a conversion at the window
    (re.compile(r"outcome (\d+) is named twice"), "同一项成果选了两次"),
    (
        re.compile(r"(\d+) is not an approved outcome of this learner's account"),
        "不是该学员账户中审核通过的学习成果",
    ),
    (re.compile(r"(\d+) is a (\w+), not a deposited outcome"), "不是存入的学习成果，不能转换"),
    (re.compile(r"outcome (\d+) has been reversed"), "该成果已被冲销，不能转换"),
    (
        re.compile(r"outcome (\d+) is already reserved by conversion (\S+)"),
        r"该成果已被另一笔学分转换申请占用（申请 \2），在其审核结束前不能再次转换",
    ),
    (
        re.compile(r"outcome (\d+) is already consumed \(then reversed\) by conversion (\S+)"),
        r"该成果已转换（申请 \2）并被冲销，不能再次转换",
    ),
    (
        re.compile(r"outcome (\d+) is already consumed by conversion (\S+)"),
        r"该成果已转换过（申请 \2），不能再次转换",
    ),
    (
        re.compile(r"outcome (\d+) was reserved a moment ago"),
        "该成果刚刚被另一笔学分转换申请占用",
    ),
    (
        re.compile(r"an outcome is held by another conversion"),
        "所选成果已被另一笔学分转换申请占用",
    ),
    (
        re.compile(r"condition not met: (.+)"),
        lambda m: f"不符合转换条件：{unmet_reason(m[1])}",
    ),
    (
        re.compile(r"no rule of the standard converts this outcome to the target.*"),
        "本标准没有把该成果转换为所选目标的规则（可申请专家认定）",
    ),
    (
        re.compile(
            r"the (\w+) cap of (\S+) (credits|certificates) would be exceeded: "
            r"(\S+) already used, (\S+) asked"
        ),
        _cap_exceeded,
    ),
    (
        re.compile(r"the conversion cannot be applied for as it stands"),
        "这笔转换目前不能提交，请按提示调整：",
    ),
    (re.compile(r"(\S+) is not a conversion standard"), r"没有代码为 \1 的转换标准"),
    (
        re.compile(r"(\S+) is (\S+)'s, for its own city only"),
        r"\1 是 \2 发布的标准，只适用于该市",
    ),
    (
        re.compile(r"no version of (\S+) is in force on (\S+) \(retired, or not yet effective\)"),
        r"\2 没有施行中的 \1 版本（已停止施行或尚未施行）",
    ),
    (re.compile(r"not in the catalogue"), "转换目录中没有"),
    (re.compile(r"the learning account is not open|not open"), "学习账户尚未开立"),
    (
        re.compile(r"an expert judgement says why"),
        "申请专家认定须填写认定理由",
    ),
    (
        re.compile(r"credits are counted in half credits \(e\.g\. 2 or 2\.5\)"),
        "以半学分计（例如 2 或 2.5）",
    ),
    (
        re.compile(r"Must be greater than or equal to (\S+) and less than or equal to (\S+)\."),
        lambda m: f"应在 {amount(m[1])} 至 {amount(m[2])} 之间",
    ),
    (re.compile(r"Not a valid list\.?"), "请选择"),
    # a reversal
    (
        re.compile(r"a conversion is reversed by an administrator of a unit above the point"),
        "学分转换由受理点以上单位的管理员冲销",
    ),
    (re.compile(r"application \S+ is not an approved conversion"), "该申请不是已通过的学分转换"),
    (re.compile(r"conversion \S+ is already reversed"), "该学分转换已经冲销过"),
    # standards and their rules
    (
        re.compile(r"conversion standards are kept by the administrators of the provincial.*"),
        "转换标准由省中心或分部（本市）的管理员制定",
    ),
    (re.compile(r"already used by another standard"), "已被其他标准使用"),
    (re.compile(r"conversion standard (\S+) exists"), r"转换标准 \1 已存在"),
    (
        re.compile(r"conversion standard (\S+) already has a draft; edit it"),
        r"标准 \1 已有草稿，请修改该草稿",
    ),
    (re.compile(r"conversion standard (\S+) is kept by (\S+)"), r"标准 \1 由 \2 制定和维护"),
    (re.compile(r"conversion standard (\S+) not found"), r"没有找到转换标准 \1"),
    (
        re.compile(r"version (\d+) of (\S+) is (\w+): a published version never changes.*"),
        r"第 \1 版已发布，发布后不能修改，请制定新版本",
    ),
    (
        re.compile(r"version (\d+) of (\S+) is (\w+); only a published one is retired"),
        r"第 \1 版不是已发布的版本，不能停止施行",
    ),
    (
        re.compile(r"version (\d+) of (\S+) cannot be published as it stands"),
        r"第 \1 版还不能发布，请按提示修改：",
    ),
    (re.compile(r"(\S+) is not a certificate of the catalogue"), r"转换目录中没有证书 \1"),
    (re.compile(r"(\S+) is issued at (\S+), not (\S+)"), r"\1 的等级为 \2，没有 \3"),
    (
        re.compile(r"a course rule names the institution of the course"),
        "课程规则须填写来源院校",
    ),
    (re.compile(r"must be one of ([a-z_, ]+)"), r"应为以下之一：\1"),
    (re.compile(r"not an institution of the catalogue"), "转换目录中没有该院校"),
    (re.compile(r"not a programme of that institution"), "不是该院校的专业"),
    (re.compile(r"not a course of that programme"), "不是该专业的课程"),
    (re.compile(r"a fixed rule gives credits above 0"), "固定学分的规则须填写大于 0 的学分"),
    (re.compile(r"must be above 0"), "须大于 0"),
    (
        re.compile(r"a rule by hours gives at most so many credits \(above 0\)"),
        "按学时计算的规则须填写最多学分（大于 0）",
    ),
    (
        re.compile(r"gives up to (\S+) credits, above the per_outcome cap of (\S+)"),
        r"最多可给 \1 学分，超过每项成果上限 \2 学分",
    ),
    (
        re.compile(r"contradicts rule (\d+): the same outcomes and target, other credits"),
        r"与第 \1 条规则矛盾：成果和目标相同，学分不同",
    ),
    (re.compile(r"a version holds at least one rule"), "每个版本至少要有一条规则"),
    (re.compile(r"must not be before effective_from"), "不能早于施行日期"),
    (re.compile(r"(\w+) is declared twice"), "重复设置"),
    (re.compile(r"must be a number above 0"), "须为大于 0 的数字"),
    (re.compile(r"must be a day as MM-DD|MM-DD"), "应为“月-日”，例如 03-01"),
    (
        re.compile(r"1-40 of A-Z, 0-9, '\.', '_', '-'"),
        "应为 1 至 40 位字母、数字、点、下划线或连字符",
    ),
    # the catalogue
    (
        re.compile(r"the catalogue is kept by the provincial centre's administrators"),
        "转换目录由省中心管理员维护",
    ),
    (re.compile(r"(\S+) is not in the catalogue"), r"转换目录中没有 \1"),
]

FILTERS.update(
    amount=amount,
    cap_name=_named(CAP),
    version_status_name=_named(VERSION_STATUS),
    entry_kind_name=_named(ENTRY_KIND),
    held_name=_named(HELD),
    unmet_reason=unmet_reason,
)


# --- certificates: their status, the verdict on one, and intake's refusals ---------------
# (services/window/certificates.py; the verdict's reasons come with a code, worded by it)

CERTIFICATE_STATUS = {"valid": "有效", "suspended": "已暂停", "revoked": "已撤销"}
VERDICT = {
    "genuine": "真实有效",
    "revoked": "已撤销",
    "suspended": "已暂停",
    "expired": "已过期",
    "not_yet_valid": "尚未生效",
    "status_unavailable": "暂时无法核实状态",
    "not_genuine": "无法验证",
}
# What each verdict tells the reader to do, under its name.
VERDICT_ADVICE = {
    "genuine": "本证明由浙江省终身教育学分银行签发，内容未被改动，目前有效。",
    "revoked": "本证明已被签发单位撤销，不再有效。",
    "suspended": "本证明正在核查，暂停期间不能作为有效证明使用。",
    "expired": "本证明已超过有效期。",
    "not_yet_valid": "本证明尚未到生效时间。",
    "status_unavailable": "签名无误，但暂时无法查到本证明是否被撤销或暂停，请稍后再核验。",
    "not_genuine": (
        "无法确认这是浙江省终身教育学分银行签发的证明：内容可能被改动，或并非本银行签发。"
    ),
}
VERDICT_REASON = {
    "REVOKED": "撤销名单中有本证明",
    "SUSPENDED": "暂停名单中有本证明",
    "EXPIRED": "已超过有效期",
    "NOT_YET_VALID": "尚未到生效时间",
    "NUMBER_MISMATCH": "签名属于另一份证明，与纸面上的证明编号不符",
    "PROOF_VERIFICATION_ERROR": "签名校验不通过：内容被改动过，或不是用本银行的密钥签发",
    "UNKNOWN_KEY": "签名所用的密钥不在本银行公布的密钥清单中",
    "KEY_WINDOW_ERROR": "签名时间不在该密钥的有效期内",
    "UNKNOWN_ISSUER": "签发者不是浙江省终身教育学分银行",
    "KEY_LIST_ERROR": "密钥清单无法核实",
    "NO_SIGNING_KEY": "没有可用的签名密钥",
    "INVALID_JSON": "不是有效的证明文件（JSON）",
    "MALFORMED_VALUE_ERROR": "证明的内容格式不正确",
    "UNKNOWN_TERM": "证明中含有无法识别的项目",
    "MULTIBASE_ERROR": "签名的编码不正确",
    "PAYLOAD_PREFIX": "不是本银行证明的二维码（应以 ZJCB1: 开头）",
    "PAYLOAD_ENCODING": "二维码内容编码不正确，可能扫描不完整",
    "PAYLOAD_TRUNCATED": "二维码内容不完整",
    "PAYLOAD_TOO_LARGE": "二维码内容过长",
    "PAYLOAD_NOT_COSE": "二维码内容不是本银行的签名格式",
    "STATUS_RETRIEVAL_ERROR": "暂时无法取得撤销、暂停名单",
    "STATUS_VERIFICATION_ERROR": "撤销、暂停名单的签名无法核实",
    "STATUS_LIST_LENGTH_ERROR": "撤销、暂停名单不完整",
    "RANGE_ERROR": "证明的状态序号超出名单范围",
}
OUTCOME_KIND["conversion"] = "学分转换"

REASONS += [
    # intake's certificates
    (re.compile(r"certificate \S+ not found"), "没有找到这份证明（或不在您的管辖范围内）"),
    (
        re.compile(r"certificate (\S+) is suspended or revoked by (\S+), which issued it, .*"),
        r"证明 \1 由签发单位 \2 或其上级单位的管理员、审核人员暂停或撤销",
    ),
    (
        re.compile(r"certificate (\S+) is (valid|suspended|revoked)"),
        lambda m: f"证明 {m[1]} 当前{CERTIFICATE_STATUS.get(m[2], m[2])}，不能这样办理",
    ),
    (re.compile(r"the record holds nothing to certify"), "账户中没有可以证明的学习成果"),
    (
        re.compile(r"the account has no approved outcome or conversion"),
        "账户中还没有审核通过的学习成果或学分转换",
    ),
    (re.compile(r"too much for one certificate"), "一份证明写不下这么多"),
    (
        re.compile(r"the record holds (\d+) entries: choose at most (\d+)"),
        r"账户共有 \1 笔，请选择不超过 \2 笔",
    ),
    (re.compile(r"some entries cannot be certified"), "有的明细不能写入证明"),
    (re.compile(r"entry (\d+) is named twice"), r"明细 \1 选了两次"),
    (re.compile(r"(\d+) is not an entry of this account"), r"明细 \1 不属于本账户"),
    (re.compile(r"(\d+) is a reversal"), r"明细 \1 是冲销记录，不能写入证明"),
    (re.compile(r"entry (\d+) has been reversed"), r"明细 \1 已被冲销"),
    (re.compile(r"the learning account is not open"), "学习账户尚未开立"),
    (re.compile(r"not open"), "尚未开立"),
    (re.compile(r"too long to be a certificate"), "内容过长，不是证明"),
    (re.compile(r"at most (\d+) characters"), r"最多 \1 个字符"),
    (re.compile(r"Longer than maximum length (\d+)\.?"), r"最多 \1 个字"),
]


def verdict_reason(reason: Any) -> str:
    """A verdict's reason as a reader understands it (by its code; else as the bank gave)."""
    return VERDICT_REASON.get(reason.get("code", ""), "") or reason.get("message", "")


CHECK_DETAILS += [
    (re.compile(r"the record's entries, each reviewed already"), "证明所载各笔均已审核通过"),
]
FILTERS.update(
    certificate_status_name=_named(CERTIFICATE_STATUS),
    verdict_name=_named(VERDICT),
    verdict_advice=_named(VERDICT_ADVICE),
    verdict_reason=verdict_reason,
)
