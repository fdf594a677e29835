"""Import files: what a file of social-training records must look like, and reading one.

A file is CSV (UTF-8, with or without BOM, or GBK) or XLSX, with one header row of the
template's Chinese column names. Everything about the file as a whole is checked before any
row is taken; rows are then kept as UTF-8 CSV ("the rows file"), each with its row number in
the original file, so that chunks read them cheaply and report the numbers people see.
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from itertools import islice
from typing import Any

from shared.errors import FieldError, Problem, ValidationProblem


@dataclass(frozen=True)
class Column:
    field: str
    header: str
    note: str


COLUMNS = (
    Column("name", "姓名", "必填"),
    Column("document_type", "证件类型", "可空，默认居民身份证"),
    Column("document_number", "证件号码", "必填，请设为文本格式"),
    Column("phone", "手机号码", "必填，11位手机号"),
    Column("organiser", "培训机构", "必填，至多100字"),
    Column("programme", "培训项目", "必填，至多100字"),
    Column("start_date", "开始日期", "必填，如 2026-03-01"),
    Column("end_date", "结束日期", "必填，不早于开始日期"),
    Column("hours", "学时", "必填，0.5至2000，至多两位小数"),
    Column("certificate_number", "证书编号", "必填，至多64字符"),
)
HEADERS = tuple(c.header for c in COLUMNS)
FIELDS = tuple(c.field for c in COLUMNS)
HEADER_OF = {c.field: c.header for c in COLUMNS}
ROW = "_row"  # the rows file's first column: the row's number in the original file

XLSX_MAGIC = b"PK\x03\x04"
REFUSED_SIGNATURES = (
    (b"\xd0\xcf\x11\xe0", "an Excel 97-2003 (.xls) workbook; save it as .xlsx or CSV"),
    (b"%PDF-", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
)
BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32 LE"),
    (codecs.BOM_UTF32_BE, "UTF-32 BE"),
    (codecs.BOM_UTF16_LE, "UTF-16 LE"),
    (codecs.BOM_UTF16_BE, "UTF-16 BE"),
)


class UnsupportedFile(Problem):
    status, kind, title = 415, "unsupported-media-type", "Unsupported Media Type"


class FileTooLarge(Problem):
    status, kind, title = 413, "too-large", "Content Too Large"


@dataclass(frozen=True)
class Checked:
    """A file that may be imported: its format and encoding, and its rows when already read
    (CSV); an XLSX workbook's rows are read by the import's first task."""

    file_format: str  # csv | xlsx
    encoding: str | None
    rows_total: int
    rows: list[list[str]] | None


def refuse(status: type[Problem], title: str, reason: str) -> Problem:
    return status(title, [FieldError("file", reason, "files")])


def check_file(data: bytes, max_rows: int) -> Checked:
    """The file as a whole: format, encoding, columns and size. One clear error, or the
    file's facts; no row is judged here."""
    if not data:
        raise refuse(ValidationProblem, "the file is empty", "empty")
    for signature, what in REFUSED_SIGNATURES:
        if data.startswith(signature):
            raise refuse(UnsupportedFile, "send a CSV or XLSX file", f"the file is {what}")
    if data.startswith(XLSX_MAGIC):
        return _check_xlsx(data, max_rows)
    encoding, text = decode(data)
    records = csv.reader(io.StringIO(text, newline=""))
    header = next(records, None)
    if header is None:
        raise refuse(ValidationProblem, "the file is empty", "no header row")
    positions = check_header(header)
    rows = list(canonical(records, positions, first=2))
    _check_count(len(rows), max_rows)
    return Checked("csv", encoding, len(rows), rows)


def decode(data: bytes) -> tuple[str, str]:
    """UTF-8 (a BOM allowed) or GBK; anything else is named in the refusal."""
    for bom, name in BOMS:
        if data.startswith(bom):
            raise refuse(
                UnsupportedFile,
                "the file's encoding is not accepted",
                f"encoded as {name}; save it as UTF-8 or GBK",
            )
    nul = data.find(b"\x00")
    if nul >= 0:  # no text encoding we take writes one; PostgreSQL text cannot hold it
        raise refuse(
            UnsupportedFile,
            "the file is not plain text",
            f"holds a NUL byte at offset {nul}; save it as a CSV file in UTF-8 or GBK",
        )
    if data.startswith(codecs.BOM_UTF8):
        data, label = data[len(codecs.BOM_UTF8) :], "utf-8-sig"
    else:
        label = "utf-8"
    try:
        return label, data.decode("utf-8")
    except UnicodeDecodeError as utf8_error:
        try:
            return "gbk", data.decode("gbk")
        except UnicodeDecodeError:
            position = utf8_error.start
            raise refuse(
                UnsupportedFile,
                "the file's encoding is not accepted",
                f"neither UTF-8 nor GBK text (byte 0x{data[position]:02x} at offset "
                f"{position}); save it as UTF-8 or GBK",
            ) from None


def check_header(header: list[Any]) -> list[int]:
    """Where each of the template's columns is (any order will do), or one refusal naming
    every missing, unknown and repeated column."""
    names = ["" if h is None else str(h).strip().lstrip("\ufeff").rstrip("*") for h in header]
    while names and not names[-1]:
        names.pop()
    errors = []
    missing = [h for h in HEADERS if h not in names]
    unknown = [n or f"(blank, column {i + 1})" for i, n in enumerate(names) if n not in HEADERS]
    repeated = sorted({n for n in names if n in HEADERS and names.count(n) > 1})
    if missing:
        errors.append(FieldError("file", "missing columns: " + ", ".join(missing), "files"))
    if unknown:
        errors.append(FieldError("file", "unknown columns: " + ", ".join(unknown), "files"))
    if repeated:
        errors.append(FieldError("file", "repeated columns: " + ", ".join(repeated), "files"))
    if errors:
        raise ValidationProblem("the file's columns are not the template's", errors)
    return [names.index(h) for h in HEADERS]


def canonical(
    records: Iterable[Iterable[Any]], positions: list[int], first: int
) -> Iterator[list[str]]:
    """Rows in the template's column order, each led by its row number in the file; blank
    rows are skipped (they are not rows anyone sent)."""
    for number, record in enumerate(records, start=first):
        # A CSV file's cells are all text: stripped as cell_text would, without its questions.
        cells = [c.strip() if type(c) is str else cell_text(c) for c in record]
        if not any(cells):
            continue
        cells += [""] * (max(positions) + 1 - len(cells))
        yield [str(number), *(cells[p] for p in positions)]


def cell_text(value: Any) -> str:
    """A cell as the text a person typed: dates as ISO dates, whole numbers without ".0". A
    long number (an ID number Excel took for a number) is kept as digits and the row's check
    says what went wrong."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _check_xlsx(data: bytes, max_rows: int) -> Checked:
    sheet = _first_sheet(data)
    try:
        header = next(sheet.iter_rows(min_row=1, max_row=1, values_only=True), None)
        if header is None:
            raise refuse(ValidationProblem, "the workbook is empty", "no header row")
        check_header(list(header))
        # The dimension the workbook declares; the rows themselves are counted again as
        # they are read, and an undeclared size is counted now.
        declared = sheet.max_row
        count = (declared - 1) if declared else sum(1 for _ in sheet.iter_rows(min_row=2))
    finally:
        sheet.parent.close()
    _check_count(count, max_rows)
    return Checked("xlsx", None, count, None)


def _first_sheet(data: bytes) -> Any:
    from openpyxl import load_workbook  # heavy; only the processes that read XLSX load it

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise refuse(
            UnsupportedFile, "send a CSV or XLSX file", f"not a readable XLSX workbook ({exc})"
        ) from None
    return workbook.worksheets[0]


def xlsx_rows(data: bytes, max_rows: int) -> list[list[str]]:
    """An XLSX workbook's rows, in the template's order (its first sheet). A workbook may
    declare fewer rows than it holds: reading stops, refused, one row past the limit."""
    sheet = _first_sheet(data)
    # Read to the sheet's real end, not to the dimension it declares (which may be wrong:
    # rows past it would otherwise be dropped without a word).
    sheet.reset_dimensions()
    try:
        rows = sheet.iter_rows(values_only=True)
        positions = check_header(list(next(rows)))
        taken = list(islice(canonical(rows, positions, first=2), max_rows + 1))
    finally:
        sheet.parent.close()
    if len(taken) > max_rows:
        raise refuse(
            FileTooLarge,
            f"a file may hold at most {max_rows:,} rows",
            f"more than {max_rows:,} rows, though the workbook declares fewer",
        )
    return taken


def _check_count(count: int, max_rows: int) -> None:
    if count <= 0:
        raise refuse(ValidationProblem, "the file has no rows", "a header and no rows")
    if count > max_rows:
        raise refuse(
            FileTooLarge,
            f"a file may hold at most {max_rows:,} rows",
            f"{count:,} rows; at most {max_rows:,}",
        )


def rows_file(rows: Iterable[list[str]]) -> bytes:
    """The rows as UTF-8 CSV, each led by its row number: what the chunks read."""
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow([ROW, *FIELDS])
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def read_rows(data: bytes) -> list[list[str]]:
    """The rows of a rows file, each led by its number in the original file."""
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""))
    next(reader)
    return list(reader)


def template(file_format: str) -> bytes:
    """The template people fill in: the headers, and a note under each on what it takes."""
    if file_format == "csv":
        out = io.StringIO(newline="")
        csv.writer(out).writerow(HEADERS)
        return codecs.BOM_UTF8 + out.getvalue().encode("utf-8")
    from openpyxl import Workbook
    from openpyxl.comments import Comment

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "社会培训成果"
    sheet.append(list(HEADERS))
    for index, column in enumerate(COLUMNS, start=1):
        cell = sheet.cell(row=1, column=index)
        cell.comment = Comment(column.note, "学分银行")
        letter = cell.column_letter
        sheet.column_dimensions[letter].width = 18
        # Text, so Excel keeps every digit of an ID number and the leading zeros.
        if column.field in ("document_number", "phone", "certificate_number"):
            sheet.column_dimensions[letter].number_format = "@"
    book = io.BytesIO()
    workbook.save(book)
    return book.getvalue()
