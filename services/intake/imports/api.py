"""The bulk-import endpoints: a file of social-training records in, its progress, its
refused rows (also as CSV), its records, and the template to fill in."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

from flask import Response
from flask_smorest import Blueprint
from sqlalchemy import select

from services.intake import serving
from services.intake.api import BEARER, FILE_BODY, uploaded_file
from services.intake.context import context, db
from services.intake.imports import batches, files, lifecycle
from services.intake.imports import schemas as s
from services.intake.models import Account, Import, ImportRecord, Learner
from shared.auth import current_principal
from shared.paging import paginate
from shared.web import download

blp = Blueprint("imports", __name__, description="Bulk imports of social-training records")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def as_text(value: str | None) -> str:
    """A value as sent, for a spreadsheet: one that a spreadsheet would run as a formula
    (``=HYPERLINK(...)`` in a name column) is kept as text with a leading apostrophe."""
    if not value:
        return ""
    return "'" + value if value.startswith(FORMULA_START) else value


@blp.get("/imports/template")
@blp.arguments(s.TemplateArgs, location="query")
@blp.response(200, description="the template: XLSX (default) or CSV with a UTF-8 BOM")
@blp.doc(security=BEARER)
def get_template(args: dict[str, str]) -> Response:
    """The file to fill in: the Chinese column headers, with a note on each (XLSX)."""
    current_principal()
    kind = args["format"]
    return download(files.template(kind), kind, f"social-training.{kind}")


@blp.post("/imports")
@blp.response(202, s.ImportSchema, description="a new import, queued")
@blp.alt_response(200, schema=s.ImportSchema, description="this file was sent before: its import")
@blp.alt_response(415, description="not CSV or XLSX, or neither UTF-8 nor GBK")
@blp.doc(security=BEARER, requestBody=FILE_BODY)
def post_import() -> Any:
    """Send a CSV or XLSX file of social-training records (multipart field ``file``; at
    most 20 MB and 100,000 rows, UTF-8 or GBK). The file is checked as a whole at once and its
    rows are read in the background; the same file from the same point is the same import."""
    principal = current_principal()
    upload = uploaded_file()
    data = upload.stream.read(context().settings.max_import_bytes + 1)
    imported, created = lifecycle.receive(
        db.session, context(), principal, upload.filename or "", data
    )
    db.session.commit()
    return imported, 202 if created else 200


@blp.get("/imports")
@blp.arguments(s.ImportListArgs, location="query")
@blp.response(200, s.ImportPageSchema)
@blp.doc(security=BEARER)
def list_imports(args: dict[str, Any]) -> Any:
    """Imports sent from the caller's subtree, newest first."""
    principal = current_principal()
    query = select(Import).where(Import.unit_path.startswith(principal.unit_path, autoescape=True))
    if args.get("status"):
        query = query.where(Import.status == args["status"])
    query = query.order_by(Import.created_at.desc(), Import.id)
    return paginate(db.session, query, args["page"], args["per_page"])


@blp.get("/imports/<uuid:import_id>")
@blp.response(200, s.ImportSchema)
@blp.doc(security=BEARER)
def get_import(import_id: uuid.UUID) -> Any:
    """An import and its progress: rows read, valid, invalid, duplicate."""
    return lifecycle.visible(db.session, current_principal(), import_id)


@blp.get("/imports/<uuid:import_id>/errors")
@blp.arguments(s.IssueArgs, location="query")
@blp.response(200, s.IssuePageSchema)
@blp.doc(security=BEARER)
def get_issues(args: dict[str, Any], import_id: uuid.UUID) -> Any:
    """Rows not taken, by row and column: invalid (one line per column at fault) and
    duplicate (``kind``); ID and phone numbers shown masked."""
    imported = lifecycle.visible(db.session, current_principal(), import_id)
    query = lifecycle.issues_query(imported.id, args.get("kind"))
    return paginate(db.session, query, args["page"], args["per_page"])


@blp.get("/imports/<uuid:import_id>/errors.csv")
@blp.response(200, description="row, column, kind, value, reason: every issue, UTF-8 with BOM")
@blp.doc(security=BEARER)
def get_issues_csv(import_id: uuid.UUID) -> Response:
    """Every refused row as CSV, to fix and send again."""
    imported = lifecycle.visible(db.session, current_principal(), import_id)
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(["行号", "列", "类型", "值", "原因"])
    for issue in db.session.scalars(lifecycle.issues_query(imported.id, None)):
        writer.writerow([issue.row, issue.column, issue.kind, as_text(issue.value), issue.reason])
    body = "\ufeff" + out.getvalue()
    return download(body.encode("utf-8"), "csv", f"import-{imported.id}-errors.csv")


@blp.get("/imports/<uuid:import_id>/records")
@blp.arguments(s.RecordArgs, location="query")
@blp.response(200, s.RecordPageSchema)
@blp.doc(security=BEARER)
def get_records(args: dict[str, Any], import_id: uuid.UUID) -> Any:
    """The records taken, by row: for a reviewer choosing rows to reject, and afterwards
    what became of each (the learner masked; the account number too, outside its home
    subtree)."""
    principal = current_principal()
    imported = lifecycle.visible(db.session, principal, import_id)
    # Select of columns: its row type is long to spell and nothing here needs it.
    query: Any = (
        select(
            ImportRecord.row,
            Learner.name_mask.label("name"),
            Learner.document_mask.label("document_number"),
            serving.shown_number_sql(principal).label("account_number"),
            ImportRecord.organiser,
            ImportRecord.programme,
            ImportRecord.hours,
            ImportRecord.start_date,
            ImportRecord.end_date,
            ImportRecord.certificate_number,
            ImportRecord.status,
            ImportRecord.rejected_level,
            ImportRecord.rejected_reason,
        )
        .join(Learner, Learner.id == ImportRecord.learner_id)
        .join(Account, Account.id == ImportRecord.account_id)
        .where(ImportRecord.import_id == imported.id)
        .order_by(ImportRecord.row)
    )
    if args.get("status"):
        query = query.where(ImportRecord.status == args["status"])
    return paginate(db.session, query, args["page"], args["per_page"], rows=True)


@blp.get("/imports/<uuid:import_id>/samples")
@blp.response(200, s.SampleSchema(many=True))
@blp.doc(security=BEARER)
def get_samples(import_id: uuid.UUID) -> Any:
    """Twenty records spread evenly over the file, for a reviewer to check against the
    training organisation's list (the learner masked): what a batch's case shows."""
    imported = lifecycle.visible(db.session, current_principal(), import_id)
    return batches.samples(db.session, imported)
