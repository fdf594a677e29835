"""The printable certificate: an A4 PDF in Chinese (fpdf2), made from what is printed on it.

What is printed comes from the signed credential (``credential.facts_of``) and two things the
credential does not hold: the learner's document, masked, and the verification page's address.
The QR code (error correction Q, at least 0.4 mm a module, drawn as vector squares so that it
prints sharp) holds that address with the offline payload after ``#`` (``cose.scan_text``):
a phone opens the page, an offline verifier reads the payload. The paper itself proves
nothing: the signed credential, found by the QR code, is what a verifier believes.

Every page repeats the title and the number (and the outcomes' table its heading); the last
page carries the issuing unit, the dates, the address and the QR code. Text is wrapped by
``linebreak`` (no line starts with ，。）：); a text with a character no font can print is
refused (``fonts.MissingGlyphs``) before anything is drawn.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import segno
from fpdf import FPDF
from segno import consts

from services.intake.certificates import linebreak
from services.intake.certificates.credential import CHINA, ISSUER_NAME, TITLE, Facts
from services.intake.certificates.fonts import Fonts, MissingGlyphs

LEVEL = {
    "acceptance_point": "受理点",
    "subcentre": "分中心",
    "branch": "分部",
    "province": "省中心",
}
KIND = {
    "academic_credit": "学历教育课程学分",
    "vocational_certificate": "职业资格证书",
    "skill_certificate": "职业技能等级证书",
    "social_training": "社会培训",
    "competition_award": "竞赛获奖",
    "other": "其他学习成果",
}
MARGIN = 18.0  # mm
BOTTOM = 297.0 - 22.0  # where the body ends (the page number below)
QR_MODULE = (0.4, 0.5)  # mm: at least 0.4 (read from paper), 0.5 while it fits in QR_MAX
QR_MAX = 62.0
# (heading, width in mm, alignment); the name's column takes what is left of 174 mm.
OUTCOME_COLUMNS = (
    ("序号", 10.0, "C"),
    ("成果编码", 34.0, "L"),
    ("学习成果名称", 0.0, "L"),
    ("类型", 28.0, "L"),
    ("取得日期", 24.0, "C"),
    ("学时", 13.0, "R"),
    ("学分", 13.0, "R"),
)


@dataclass(frozen=True)
class PrintedOutcome:
    code: str
    kind: str  # in Chinese
    title: str
    credits: str
    achieved_on: date
    hours: str = ""


@dataclass(frozen=True)
class PrintedConversion:
    code: str
    title: str
    target: str
    credits: str
    decided_on: date
    outcomes: tuple[str, ...]


@dataclass(frozen=True)
class PrintedStep:
    level: str  # 受理点, 分中心, 分部, 省中心
    action: str  # 受理, 审核通过
    unit_name: str
    unit_code: str
    on: date


@dataclass(frozen=True)
class Printed:
    """Everything the paper shows, as it is shown."""

    number: str
    name: str
    document: str  # its kind and its number masked: 居民身份证 3301**********123X
    unit_name: str  # the issuing unit
    outcomes: tuple[PrintedOutcome, ...]
    steps: tuple[PrintedStep, ...]
    issued_on: date
    valid_until: date | None
    url: str  # the verification page
    qr: str  # the QR code's text: the page's address, # and the offline payload
    conversions: tuple[PrintedConversion, ...] = field(default=())

    def texts(self) -> str:
        """Every text printed (to check each character has a font)."""
        parts = [self.number, self.name, self.document, self.unit_name, self.url]
        for o in self.outcomes:
            parts += [o.code, o.kind, o.title, o.credits, o.hours]
        for c in self.conversions:
            parts += [c.code, c.title, c.target, c.credits, *c.outcomes]
        for s in self.steps:
            parts += [s.level, s.action, s.unit_name, s.unit_code]
        return "".join(parts)


def amount(value: Decimal | None) -> str:
    """An amount as printed: 3, 1.5, 0.25 (no trailing zeros); nothing for none."""
    if value is None:
        return ""
    return f"{value.normalize():f}"


def printed_of(facts: Facts, document: str, url: str, qr: str) -> Printed:
    """What the paper of a credential's ``facts`` shows."""
    steps = [
        PrintedStep(
            LEVEL.get(facts.accepted.level, facts.accepted.level),
            "受理",
            facts.accepted.unit_name,
            facts.accepted.unit_code,
            facts.accepted.on,
        )
    ]
    steps += [
        PrintedStep(LEVEL.get(s.level, s.level), "审核通过", s.unit_name, s.unit_code, s.on)
        for s in facts.approvals
    ]
    return Printed(
        number=facts.number,
        name=facts.learner_name,
        document=document,
        unit_name=facts.unit_name,
        outcomes=tuple(
            PrintedOutcome(
                o.code,
                KIND.get(o.kind, o.kind),
                o.title,
                amount(o.credits),
                o.achieved_on,
                amount(o.hours),
            )
            for o in facts.outcomes
        ),
        steps=tuple(steps),
        issued_on=facts.issued_at.astimezone(CHINA).date(),
        valid_until=facts.valid_until.astimezone(CHINA).date() if facts.valid_until else None,
        url=url,
        qr=qr,
        conversions=tuple(
            PrintedConversion(
                c.code, c.title, c.target, amount(c.credits), c.decided_on, c.outcomes
            )
            for c in facts.conversions
        ),
    )


def day(value: date) -> str:
    return f"{value.year}年{value.month}月{value.day}日"


def qr_code(text: str) -> segno.QRCode:
    """The QR code of ``text`` at error correction Q: the address in byte mode, the payload
    after ``#`` in alphanumeric mode (Base45 is that alphabet: 5.5 bits a character, not 8)."""
    head, sep, payload = text.partition("#")
    if sep and payload and all(c in ALPHANUMERIC for c in payload):
        content: Any = [(head + sep, consts.MODE_BYTE), (payload, consts.MODE_ALPHANUMERIC)]
    else:
        content = text
    return segno.make(content, error="q", boost_error=False, micro=False)


ALPHANUMERIC = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")


def qr_module(version: int) -> float:
    """The size of one module (mm) of a QR code of ``version`` on the paper."""
    modules = 17 + 4 * version + 8  # with its quiet zone
    return max(QR_MODULE[0], min(QR_MODULE[1], QR_MAX / modules))


class _Document(FPDF):
    def __init__(self, printed: Printed) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.printed = printed
        self.set_margins(MARGIN, MARGIN + 34, MARGIN)
        self.set_auto_page_break(False)
        self.table_header = False

    def header(self) -> None:
        self.set_draw_color(150, 30, 30)
        self.set_line_width(0.8)
        self.rect(8, 8, 194, 281)
        self.set_line_width(0.2)
        self.rect(10, 10, 190, 277)
        self.set_text_color(0, 0, 0)
        self.set_xy(MARGIN, 16)
        self.set_font("serif", "B", 15)
        self.cell(174, 8, ISSUER_NAME, align="C")
        self.set_xy(MARGIN, 25)
        self.set_font("serif", "B", 24)
        self.cell(174, 12, TITLE, align="C")
        self.set_xy(MARGIN, 40)
        self.set_font("serif", "", 10)
        self.cell(174, 6, f"证书编号：{self.printed.number}", align="R")
        self.set_y(MARGIN + 34)
        if self.table_header:
            _outcome_heading(self)

    def footer(self) -> None:
        self.set_xy(MARGIN, 297 - 20)
        self.set_font("serif", "", 9)
        self.cell(174, 5, f"{self.printed.number}　第 {self.page_no()} 页 共 {{nb}} 页", align="C")


def render(printed: Printed, fonts: Fonts) -> bytes:
    """The PDF of ``printed``. ``MissingGlyphs`` if a character of it has no font."""
    missing = fonts.missing(printed.texts())
    if missing:
        raise MissingGlyphs(missing)
    pdf = _Document(printed)
    pdf.add_font("serif", "", fonts.regular.path)
    pdf.add_font("serif", "B", fonts.bold.path)
    needed = fonts.needed_fallbacks(printed.texts())
    for face in needed:
        pdf.add_font(face.family, "", face.path, collection_font_number=face.index)
    if needed:
        pdf.set_fallback_fonts([f.family for f in needed], exact_match=False)
    pdf.alias_nb_pages()
    pdf.add_page()
    _opening(pdf, printed)
    _outcomes(pdf, printed.outcomes)
    if printed.conversions:
        _conversions(pdf, printed.conversions)
    _steps(pdf, printed.steps, "三" if printed.conversions else "二")
    _closing(pdf, printed)
    data = _output(pdf)
    lost = {chr(c) for font in pdf.fonts.values() for c in getattr(font, "missing_glyphs", [])}
    if lost - {chr(c) for c in INVISIBLE_CODES}:
        raise MissingGlyphs(lost)
    return data


INVISIBLE_CODES = frozenset({0x20, 0xA0, 0x3000})


def _output(pdf: FPDF) -> bytes:
    # fpdf2 logs each glyph it lacks (and prints a blank); checked above, so quiet here.
    logger = logging.getLogger("fpdf.output")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        return bytes(pdf.output())
    finally:
        logger.setLevel(level)


def _paragraph(pdf: FPDF, text: str, size: float, height: float, width: float = 174.0) -> None:
    pdf.set_font("serif", "", size)
    for line in linebreak.wrap(text, width, pdf.get_string_width):
        _room(pdf, height)
        pdf.set_x(MARGIN)
        pdf.cell(width, height, line)
        pdf.ln(height)


def _room(pdf: FPDF, height: float) -> None:
    """A new page when ``height`` more would run into the bottom margin."""
    if pdf.get_y() + height > BOTTOM:
        pdf.add_page()


def _section(pdf: FPDF, title: str) -> None:
    _room(pdf, 20)
    pdf.ln(3)
    pdf.set_x(MARGIN)
    pdf.set_font("serif", "B", 12)
    pdf.cell(174, 8, title)
    pdf.ln(8)


def _opening(pdf: FPDF, printed: Printed) -> None:
    levels = "、".join(dict.fromkeys(s.level for s in printed.steps[1:]))
    text = (
        f"兹证明{printed.name}（{printed.document}）的下列学习成果，经{levels}逐级审核认定，"
        f"已记入其在{ISSUER_NAME}的学习账户，特此证明。"
    )
    pdf.ln(2)
    _paragraph(pdf, "　　" + text, 12, 8)


def _widths() -> list[float]:
    fixed = sum(w for _, w, _ in OUTCOME_COLUMNS)
    return [w or 174.0 - fixed for _, w, _ in OUTCOME_COLUMNS]


def _outcome_heading(pdf: FPDF) -> None:
    pdf.set_font("serif", "B", 9.5)
    pdf.set_fill_color(240, 235, 225)
    pdf.set_draw_color(120, 120, 120)
    pdf.set_line_width(0.2)
    pdf.set_x(MARGIN)
    for (heading, _, _), width in zip(OUTCOME_COLUMNS, _widths(), strict=True):
        pdf.cell(width, 7, heading, border=1, align="C", fill=True)
    pdf.ln(7)


def _row(
    pdf: FPDF,
    cells: Sequence[str],
    widths: Sequence[float],
    aligns: Sequence[str],
    line: float = 5.0,
) -> None:
    pdf.set_font("serif", "", 9.5)
    wrapped = [
        linebreak.wrap(c, w - 2, pdf.get_string_width) for c, w in zip(cells, widths, strict=True)
    ]
    height = max(len(lines) for lines in wrapped) * line + 2
    if pdf.get_y() + height > BOTTOM:
        pdf.add_page()
    y = pdf.get_y()
    x = MARGIN
    pdf.set_draw_color(120, 120, 120)
    for lines, width, align in zip(wrapped, widths, aligns, strict=True):
        pdf.rect(x, y, width, height)
        for i, text in enumerate(lines):
            pdf.set_xy(x + 1, y + 1 + i * line)
            pdf.cell(width - 2, line, text, align=align)
        x += width
    pdf.set_xy(MARGIN, y + height)


def _outcomes(pdf: _Document, outcomes: Sequence[PrintedOutcome]) -> None:
    _section(pdf, "一、学习成果")
    _outcome_heading(pdf)
    pdf.table_header = True  # repeated on every page the table runs on to
    widths = _widths()
    aligns = [a for _, _, a in OUTCOME_COLUMNS]
    for n, o in enumerate(outcomes, start=1):
        cells = [str(n), o.code, o.title, o.kind, o.achieved_on.isoformat(), o.hours, o.credits]
        _row(pdf, cells, widths, aligns)
    total = sum((Decimal(o.credits) for o in outcomes), Decimal(0))
    _row(pdf, ["", "合计", "", "", "", "", amount(total)], widths, aligns)
    pdf.table_header = False


def _conversions(pdf: FPDF, conversions: Sequence[PrintedConversion]) -> None:
    _section(pdf, "二、学分转换")
    for n, c in enumerate(conversions, start=1):
        _paragraph(
            pdf,
            f"{n}. {c.title}（{c.code}）：转换为{c.target}学分{c.credits}分，"
            f"依据成果{'、'.join(c.outcomes)}，{day(c.decided_on)}认定。",
            10.5,
            6.5,
        )


def _steps(pdf: FPDF, steps: Sequence[PrintedStep], numeral: str) -> None:
    _section(pdf, f"{numeral}、审核经过")
    for s in steps:
        _paragraph(
            pdf, f"{day(s.on)}　{s.level}　{s.unit_name}（{s.unit_code}）　{s.action}", 10.5, 6.5
        )


def _closing(pdf: FPDF, printed: Printed) -> None:
    qr = qr_code(printed.qr)
    module = qr_module(int(qr.version))
    size = module * (qr.symbol_size(border=4)[0])
    if pdf.get_y() + max(size, 40) + 4 > BOTTOM:
        pdf.add_page()
    top = max(pdf.get_y() + 4, BOTTOM - size)
    _draw_qr(pdf, qr, 192 - size, top, module)
    pdf.set_xy(MARGIN, top + 2)
    width = 174 - size - 4
    until = day(printed.valid_until) if printed.valid_until else "长期有效（撤销者除外）"
    for text, bold in (
        (f"发证单位：{printed.unit_name}", True),
        (f"发证日期：{day(printed.issued_on)}", False),
        (f"有效期至：{until}", False),
    ):
        pdf.set_font("serif", "B" if bold else "", 11)
        pdf.set_x(MARGIN)
        pdf.cell(width, 7, text)
        pdf.ln(7)
    pdf.ln(2)
    _paragraph(pdf, "核验：扫描右侧二维码或访问下列网址，核验结果以网上所示为准。", 9, 5, width)
    _paragraph(pdf, printed.url, 8, 4.5, width)


def _draw_qr(pdf: FPDF, qr: segno.QRCode, x: float, y: float, module: float) -> None:
    """The QR code as black squares (a run of dark modules one rectangle), quiet zone included."""
    pdf.set_fill_color(0, 0, 0)
    for row, line in enumerate(qr.matrix_iter(scale=1, border=4)):
        start = None
        for col, dark in enumerate([*line, 0]):
            if dark and start is None:
                start = col
            elif not dark and start is not None:
                pdf.rect(
                    x + start * module, y + row * module, (col - start) * module, module, style="F"
                )
                start = None
