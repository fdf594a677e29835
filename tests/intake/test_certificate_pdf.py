"""The printed certificate: its text read back with pdftotext (pypdf misreads CJK fonts), its
QR code decoded with zxing-cpp from a page rendered at 100 dpi and verified online and
offline; rare name characters printed, one no font has refused; Chinese line breaking; a
long list of outcomes across pages with its heading repeated."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from services.intake.certificates import cose, fonts, linebreak, pdf, verify
from services.intake.certificates.fonts import MissingGlyphs
from shared.settings import load_settings
from tests.helpers import ROOT
from tests.intake.conftest import CERTIFICATE_JUDGED, CertificateBank, certificate_facts

PAGE = "https://creditbank.example/v/0b6c2d1e-3f4a-4b5c-8d9e-0f1a2b3c4d5e"
DOCUMENT = "居民身份证 3301**********123X"
JUDGED = datetime.fromisoformat(CERTIFICATE_JUDGED)


@pytest.fixture(autouse=True)
def fresh_intake() -> Iterator[None]:
    """Pure: no tables to empty (this overrides the package's autouse fixture)."""
    yield


@pytest.fixture(scope="module")
def faces() -> fonts.Fonts:
    return fonts.prepared(Path(load_settings("intake").fonts_dir))


def printed(bank: CertificateBank, outcomes: int = 3, **changes: object) -> pdf.Printed:
    facts = certificate_facts(outcomes, **changes)
    return pdf.printed_of(facts, DOCUMENT, PAGE, cose.scan_text(PAGE, bank.payload(facts)))


def text_of(data: bytes, page: int | None = None) -> str:
    """The PDF's text (of one page), without the line breaks and spaces of its layout."""
    pages = ["-f", str(page), "-l", str(page)] if page else []
    done = subprocess.run(
        ["pdftotext", *pages, "-", "-"], input=data, capture_output=True, check=True, timeout=60
    )
    return "".join(done.stdout.decode().split())


def pages_of(data: bytes) -> int:
    done = subprocess.run(["pdfinfo", "-"], input=data, capture_output=True, check=True)
    line = next(x for x in done.stdout.decode().splitlines() if x.startswith("Pages:"))
    return int(line.split()[1])


def scanned(data: bytes, page: int) -> list[str]:
    """The QR codes zxing-cpp finds on ``page`` rendered at 100 dpi."""
    done = subprocess.run(
        ["pdftoppm", "-r", "100", "-png", "-f", str(page), "-l", str(page), "-singlefile", "-"],
        input=data,
        capture_output=True,
        check=True,
        timeout=60,
    )
    image = Image.open(io.BytesIO(done.stdout))
    return [
        r.text for r in zxingcpp.read_barcodes(image) if r.format == zxingcpp.BarcodeFormat.QRCode
    ]


def test_the_pdf_reads_back_and_its_qr_code_verifies_online_and_offline(
    certificate_bank: CertificateBank, faces: fonts.Fonts, tmp_path: Path
) -> None:
    shown = printed(certificate_bank)
    data = pdf.render(shown, faces)
    assert data.startswith(b"%PDF-")
    text = text_of(data)
    for expected in (
        "浙江省终身教育学分银行",
        "学习成果证明",
        "ZJ2026000123",
        "王小明",
        "3301**********123X",
        "LO-2025-0001",
        "LO-2025-0003",
        "Web前端开发职业技能等级证书（中级）第2项",
        "职业技能等级证书",
        "学历教育课程学分",
        "杭州市西湖区终身教育学分银行分中心",  # the issuing unit
        "西湖区文新街道受理点",
        "杭州市分部",
        "受理点",
        "分中心",
        "分部",
        "学分转换",
        "2031年3月2日",  # valid until
        PAGE,
    ):
        assert "".join(expected.split()) in text, expected
    assert "33010219900101123X" not in text  # only ever masked
    (qr,) = scanned(data, pages_of(data))
    assert qr == shown.qr and qr.startswith(PAGE + "#ZJCB1:")
    # online: the bank's verifier takes the URL form as it is
    keys, lists = certificate_bank.key_list(), certificate_bank.status_source
    assert verify.verify(qr, keys, lists, JUDGED).outcome is verify.Outcome.GENUINE
    payload = cose.payload_of_scan(qr)
    verdict = verify.verify(payload, keys, lists, JUDGED)
    assert verdict.outcome is verify.Outcome.GENUINE and verdict.claims is not None
    assert verdict.claims.number == "ZJ2026000123"
    # offline: the verifier run as a person runs it, with the QR code's text as scanned
    files = _published(certificate_bank, tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "deploy.verify_certificate", "--at", CERTIFICATE_JUDGED,
         "--keys", files[0], "--status", files[1], "--status", files[2], qr],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "verdict: genuine" in done.stdout and "certificate ZJ2026000123: 王小明" in done.stdout


def _published(bank: CertificateBank, directory: Path) -> list[str]:
    keys = directory / "keys.json"
    keys.write_text(json.dumps(bank.key_list_document(), ensure_ascii=False))
    revocation, suspension = directory / "revocation.json", directory / "suspension.json"
    revocation.write_text(bank.served[CertificateBank.REVOCATION])
    suspension.write_text(bank.served[CertificateBank.SUSPENSION])
    return [str(keys), str(revocation), str(suspension)]


def test_the_qr_text_is_a_url_whose_fragment_is_the_payload(
    certificate_bank: CertificateBank,
) -> None:
    payload = certificate_bank.payload(certificate_facts(2))
    text = cose.scan_text(PAGE, "ZJCB1:AB %C")
    assert text == PAGE + "#ZJCB1:AB%20%25C"
    parts = urllib.parse.urlsplit(cose.scan_text(PAGE, payload))
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "creditbank.example", PAGE[26:])
    assert " " not in parts.fragment
    assert all(c.isalnum() or c in "$%*+-./:" for c in parts.fragment)
    assert cose.payload_of_scan(cose.scan_text(PAGE, payload)) == payload
    assert cose.payload_of_scan(f"  {payload}\n") == payload
    assert cose.payload_of_scan("https://elsewhere.example/#nothing") == (
        "https://elsewhere.example/#nothing"
    )
    keys, lists = certificate_bank.key_list(), certificate_bank.status_source
    refused = verify.verify("https://elsewhere.example/#nothing", keys, lists, JUDGED)
    assert refused.outcome is verify.Outcome.NOT_GENUINE
    assert refused.reasons[0].code == "PAYLOAD_PREFIX"


@pytest.mark.parametrize("name", ["王堃", "张喆", "李珺", "刘䶮", "𠮷野家", "赵玥", "陈𫖯", "𪚥明"])
def test_a_name_with_a_rare_character_prints(
    certificate_bank: CertificateBank, faces: fonts.Fonts, name: str
) -> None:
    data = pdf.render(printed(certificate_bank, 1, learner_name=name), faces)
    assert f"兹证明{name}（" in text_of(data)


def test_a_name_no_font_has_is_refused(
    certificate_bank: CertificateBank, faces: fonts.Fonts
) -> None:
    missing = "\U00030000"  # CJK Extension G: in neither Noto CJK nor HanaMin
    with pytest.raises(MissingGlyphs) as refused:
        pdf.render(printed(certificate_bank, 1, learner_name=f"王{missing}"), faces)
    assert refused.value.characters == missing
    assert "U+30000" in refused.value.message and refused.value.code == "MISSING_GLYPHS"


def _measure(text: str) -> float:
    return sum(0.5 if ord(c) < 0x2E80 else 1.0 for c in text)


def test_no_line_starts_with_a_closing_mark_or_ends_with_an_opening_one() -> None:
    text = (
        "兹证明王小明（居民身份证3301**********123X）的下列学习成果，经受理点、分中心、分部"
        "逐级审核认定，已记入其学习账户：“网页设计与制作（初级）”《职业技能等级证书》"
        "「中级」，学分3.5分；是否有效？请扫描二维码！核验网址https://bank.example/v/1。"
    )
    for width in [x / 2 for x in range(8, 80)]:
        lines = linebreak.wrap(text, width, _measure)
        assert linebreak.check(lines) == [], (width, lines)
        assert "".join(lines) == text  # nothing lost, nothing added
        for line in lines:
            # wider only where no break the rules allow would do (a mark pulled along)
            assert _measure(line) <= width + 2, (width, line)
    assert linebreak.wrap("一二三，四五", 3, _measure) == ["一二", "三，四", "五"]
    assert linebreak.wrap("一二（三四）", 3, _measure) == ["一二", "（三", "四）"]
    assert linebreak.wrap("一二（三四", 3, _measure) == ["一二", "（三四"]
    assert linebreak.wrap("编码 LO-2025-0001 已认定", 6, _measure) == [
        "编码",
        "LO-2025-0001",
        "已认定",
    ]


def test_fpdf2s_own_wrapping_breaks_the_rules_where_ours_does_not(faces: fonts.Fonts) -> None:
    """Why ``linebreak`` exists: fpdf2's CHAR mode starts lines with ，。）："""
    from fpdf import FPDF

    document = FPDF()
    document.add_font("serif", "", faces.regular.path)
    document.set_font("serif", "", 12)
    document.add_page()
    text = "兹证明王小明的下列学习成果，经受理点、分中心逐级审核认定：已记入其学习账户。" * 4
    broken = ours = 0
    for width in range(40, 170, 3):
        theirs = document.multi_cell(width, 8, text, wrapmode="CHAR", dry_run=True,
                                     output="LINES")  # fmt: skip
        broken += len(linebreak.check(theirs))
        ours += len(linebreak.check(linebreak.wrap(text, width, document.get_string_width)))
    assert broken > 0 and ours == 0


def test_a_long_list_of_outcomes_runs_across_pages_with_its_heading(
    certificate_bank: CertificateBank, faces: fonts.Fonts
) -> None:
    data = pdf.render(printed(certificate_bank, 50), faces)
    pages = pages_of(data)
    assert pages >= 3
    last_row = None
    for page in range(1, pages + 1):
        text = text_of(data, page)
        assert "学习成果证明" in text and "证书编号：ZJ2026000123" in text
        assert f"第{page}页共{pages}页" in text
        table = text.split("二、学分转换")[0]  # the conversion names its outcome too
        rows = [n for n in range(1, 51) if f"LO-2025-{n:04d}" in table]
        if rows:
            assert "学习成果名称" in text and "学分" in text  # the heading, on each page
            assert last_row is None or rows[0] == last_row + 1  # no row lost or repeated
            last_row = rows[-1]
    assert last_row == 50
    (qr,) = scanned(data, pages)
    assert cose.payload_of_scan(qr).startswith("ZJCB1:")


def test_the_qr_code_is_large_enough_to_read_from_paper(
    certificate_bank: CertificateBank, capsys: pytest.CaptureFixture[str]
) -> None:
    versions = {}
    for outcomes in (1, 5, 50):
        code = pdf.qr_code(printed(certificate_bank, outcomes).qr)
        assert code.error == "Q"
        versions[outcomes] = code.version
        module = pdf.qr_module(int(code.version))
        assert module >= 0.4
        side = module * code.symbol_size(border=4)[0]
        assert side <= 75
    with capsys.disabled():
        print(f"\nQR versions at Q (outcomes: version): {versions}")
    assert versions[1] <= versions[5] <= versions[50] <= 40
