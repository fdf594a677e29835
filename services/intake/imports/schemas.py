"""Marshmallow schemas of the bulk-import endpoints."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from services.intake.models import ImportStatus, RecordStatus
from shared.paging import PageArgs, page_schema
from shared.schemas import Strict


class ImportSchema(Schema):
    id = fields.UUID()
    unit_code = fields.String(metadata={"description": "the acceptance point that sent it"})
    filename = fields.String()
    file_format = fields.String(metadata={"description": "csv or xlsx"})
    encoding = fields.String(allow_none=True, metadata={"description": "utf-8, utf-8-sig or gbk"})
    size = fields.Integer()
    file_sha256 = fields.String(metadata={"description": "the same file again is this import"})
    status = fields.String(
        metadata={
            "description": ", ".join(status.value for status in ImportStatus)
            + " (refused: a workbook holding more rows than it declared, over the limit)"
        }
    )
    rows_total = fields.Integer(allow_none=True)
    rows_read = fields.Integer()
    valid = fields.Integer(metadata={"description": "records taken"})
    invalid = fields.Integer()
    duplicate = fields.Integer(metadata={"description": "repeats of a row or of a held record"})
    accounts_opened = fields.Integer(metadata={"description": "opened collectively by it"})
    hours_total = fields.Decimal(as_string=True)
    application_id = fields.UUID(allow_none=True, metadata={"description": "the batch in review"})
    uploaded_by = fields.String()
    created_at = fields.AwareDateTime()
    ready_at = fields.AwareDateTime(allow_none=True)


class ImportListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf([status.value for status in ImportStatus]))


class IssueArgs(PageArgs):
    kind = fields.String(validate=validate.OneOf(["invalid", "duplicate"]))


class IssueSchema(Schema):
    row = fields.Integer(metadata={"description": "the row's number in the file (header: 1)"})
    column = fields.String(metadata={"description": "the column's header; empty: the whole row"})
    kind = fields.String(metadata={"description": "invalid or duplicate"})
    value = fields.String(allow_none=True, metadata={"description": "ID/phone numbers masked"})
    reason = fields.String()


class RecordArgs(PageArgs):
    status = fields.String(validate=validate.OneOf([status.value for status in RecordStatus]))


class RecordSchema(Schema):
    row = fields.Integer()
    name = fields.String(metadata={"description": "masked"})
    document_number = fields.String(metadata={"description": "masked"})
    account_number = fields.String(
        allow_none=True, metadata={"description": "masked outside the account's home subtree"}
    )
    organiser = fields.String()
    programme = fields.String()
    hours = fields.Decimal(as_string=True)
    start_date = fields.Date()
    end_date = fields.Date()
    certificate_number = fields.String()
    status = fields.String()
    rejected_level = fields.String(allow_none=True)
    rejected_reason = fields.String(allow_none=True)


class SampleSchema(Schema):
    row = fields.Integer(metadata={"description": "the row's number in the file (header: 1)"})
    name = fields.String(metadata={"description": "masked"})
    document_number = fields.String(metadata={"description": "masked"})
    organiser = fields.String()
    programme = fields.String()
    hours = fields.Decimal(as_string=True)
    start_date = fields.Date()
    end_date = fields.Date()
    certificate_number = fields.String()
    status = fields.String(metadata={"description": "pending, approved or rejected"})


class TemplateArgs(Strict):
    format = fields.String(load_default="xlsx", validate=validate.OneOf(["xlsx", "csv"]))


ImportPageSchema = page_schema(ImportSchema, "ImportPage")
IssuePageSchema = page_schema(IssueSchema, "ImportIssuePage")
RecordPageSchema = page_schema(RecordSchema, "ImportRecordPage")
