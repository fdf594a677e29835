"""Bulk imports, rule by rule: the file checked as a whole, every row checked like a deposit,
duplicates in the file and already held, accounts opened collectively or matched, and the
batch's decisions posted. The tasks' functions are called directly here; the queue path,
kills and Redis restarts are in test_import_worker.py."""

from __future__ import annotations

import codecs
import csv
import io
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from services.intake import decisions
from services.intake.app import create_app
from services.intake.context import db, worker_context
from services.intake.imports import batches, chunks, lifecycle
from services.intake.models import (
    Account,
    Application,
    Import,
    ImportChunk,
    ImportIssue,
    ImportRecord,
    Learner,
    LedgerDay,
    LedgerEntry,
    Outbox,
)
from tests.factories import Window
from tests.import_data import GOOD_TRAINING, generate, person, to_csv, to_xlsx
from tests.intake.conftest import count, process, send


def all_issues(window: Window, headers: dict[str, str], import_id: str) -> list[dict[str, Any]]:
    items, page = [], 1
    while True:
        got = window.client.get(
            f"/api/v1/imports/{import_id}/errors?per_page=100&page={page}", headers=headers
        ).json
        items += got["items"]
        if page * 100 >= got["total"]:
            return items
        page += 1


def expected_issues(generated: Any) -> list[tuple[int, str, str, str]]:
    rows = [
        (row, column, "invalid", reason)
        for row, faults in generated.invalid.items()
        for column, reason in faults
    ]
    rows += [(row, "", "duplicate", reason) for row, reason in generated.duplicate.items()]
    return sorted(rows)


def test_the_csv_template_has_the_chinese_headers(window: Window) -> None:
    headers = window.token()
    r = window.client.get("/api/v1/imports/template?format=csv", headers=headers)
    assert r.status_code == 200 and r.data.startswith(codecs.BOM_UTF8)
    assert next(csv.reader(io.StringIO(r.data.decode("utf-8-sig")))) == [
        "姓名", "证件类型", "证件号码", "手机号码", "培训机构", "培训项目",
        "开始日期", "结束日期", "学时", "证书编号",
    ]  # fmt: skip


def test_the_template_is_a_workbook_by_default(window: Window) -> None:
    from openpyxl import load_workbook

    headers = window.token()
    r = window.client.get("/api/v1/imports/template", headers=headers)
    assert r.status_code == 200 and "attachment" in r.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(r.data)).active
    assert [c.value for c in sheet[1]][:3] == ["姓名", "证件类型", "证件号码"]


def test_a_template_format_not_offered_is_422(window: Window) -> None:
    headers = window.token()
    assert (
        window.client.get("/api/v1/imports/template?format=xls", headers=headers).json["errors"][0][
            "field"
        ]
        == "format"
    )


@pytest.fixture
def read_300(window: Window) -> dict[str, Any]:
    """A file of 300 rows with known bad and repeated ones, sent and read to "in review"."""
    headers = window.token()
    generated = generate(300)
    sent = send(window, headers, to_csv(generated.rows))
    assert sent.status_code == 202, sent.json
    process(sent.json["id"])
    got = window.client.get(f"/api/v1/imports/{sent.json['id']}", headers=headers).json
    return {
        "headers": headers,
        "generated": generated,
        "sent": sent.json,
        "import_id": sent.json["id"],
        "got": got,
    }


def test_a_file_is_received_then_read_to_in_review_counting_every_row(read_300) -> None:
    sent, got, generated = read_300["sent"], read_300["got"], read_300["generated"]
    assert sent["status"] == "received" and sent["rows_total"] == 300
    assert got["status"] == "in_review"
    assert (got["rows_read"], got["valid"], got["invalid"], got["duplicate"]) == (
        300,
        generated.valid,
        len(generated.invalid),
        len(generated.duplicate),
    )


def test_every_issue_is_reported_by_row_column_and_reason_masked(window: Window, read_300) -> None:
    generated = read_300["generated"]
    issues = all_issues(window, read_300["headers"], read_300["import_id"])
    assert sorted((i["row"], i["column"], i["kind"], i["reason"]) for i in issues) == (
        expected_issues(generated)
    )
    # Names, ID and phone numbers in the issues are masked, never as sent.
    sent = {
        row[column] for row in generated.rows for column in ("document_number", "phone", "name")
    }
    assert not {i["value"] for i in issues} & sent


def test_the_issues_export_as_csv_under_chinese_headers(window: Window, read_300) -> None:
    r = window.client.get(
        f"/api/v1/imports/{read_300['import_id']}/errors.csv", headers=read_300["headers"]
    )
    lines = list(csv.reader(io.StringIO(r.data.decode("utf-8-sig"))))
    assert lines[0] == ["行号", "列", "类型", "值", "原因"]
    assert sorted((int(a), b, c, e) for a, b, c, _, e in lines[1:]) == expected_issues(
        read_300["generated"]
    )


def test_one_record_per_valid_row_and_one_account_per_learner_opened_by_the_import(
    read_300,
) -> None:
    generated, got = read_300["generated"], read_300["got"]
    good_docs = {
        row["document_number"]
        for number, row in enumerate(generated.rows, start=2)
        if number not in generated.invalid and number not in generated.duplicate
    }
    assert count(ImportRecord) == generated.valid
    assert count(Learner) == count(Account) == len(good_docs) == got["accounts_opened"]
    with db.transaction() as session:
        opened_by = set(session.scalars(select(Account.opened_by_import_id)))
    assert opened_by == {uuid.UUID(read_300["import_id"])}


def test_the_import_goes_to_review_as_one_batch_naming_no_learner(read_300) -> None:
    generated, got = read_300["generated"], read_300["got"]
    with db.transaction() as session:
        batch = session.get(Application, uuid.UUID(got["application_id"]))
        handoff = session.scalars(
            select(Outbox.payload).where(Outbox.task_name == "review.open_case")
        ).all()
    assert batch is not None and batch.kind.value == "import" and batch.learner_id is None
    (message,) = handoff
    assert message["kind"] == "import" and message["outcome_kind"] == "social_training"
    summary = message["batch"]
    assert summary["records"] == generated.valid and summary["rows_total"] == 300
    assert sum(b - a + 1 for a, b in summary["record_rows"]) == generated.valid
    assert "samples" not in summary  # no learner named in a message


def test_the_samples_are_spread_over_the_file_and_masked(window: Window, read_300) -> None:
    samples = window.client.get(
        f"/api/v1/imports/{read_300['import_id']}/samples", headers=read_300["headers"]
    ).json
    assert len(samples) == 20 and len({s["row"] for s in samples}) == 20
    rows = sorted(s["row"] for s in samples)
    assert rows[-1] - rows[0] > read_300["generated"].valid // 2  # spread, not the file's head
    assert all("*" in s["document_number"] and "*" in s["name"] for s in samples)


@pytest.mark.parametrize("encoding", ["gbk", "utf-8-sig", "xlsx"])
def test_gbk_bom_and_xlsx_read_like_utf8(window: Window, encoding: str) -> None:
    headers = window.token()
    generated = generate(60, seed=2)
    if encoding == "xlsx":
        data, name = to_xlsx(generated.rows), "records.xlsx"
    else:
        data, name = to_csv(generated.rows, encoding), "records.csv"
    r = send(window, headers, data, name)
    assert r.status_code == 202, r.json
    process(r.json["id"])
    got = window.client.get(f"/api/v1/imports/{r.json['id']}", headers=headers).json
    assert got["encoding"] == (None if encoding == "xlsx" else encoding)
    assert (got["valid"], got["invalid"], got["duplicate"]) == (
        generated.valid,
        len(generated.invalid),
        len(generated.duplicate),
    )
    issues = all_issues(window, headers, r.json["id"])
    assert sorted((i["row"], i["column"], i["kind"], i["reason"]) for i in issues) == (
        expected_issues(generated)
    )
    with db.transaction() as session:
        names = set(session.scalars(select(ImportRecord.organiser)))
    assert names == {GOOD_TRAINING["organiser"]}  # Chinese read back intact


def test_the_same_file_again_is_the_same_import(window: Window) -> None:
    headers = window.token()
    data = to_csv(generate(20).rows)
    first = send(window, headers, data)
    again = send(window, headers, data, "renamed.csv")
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json["id"] == first.json["id"]
    assert count(Import) == 1
    assert count(Outbox) == 1  # one prepare message


def test_records_already_held_are_duplicates_and_never_counted_twice(window: Window) -> None:
    headers = window.token()
    rows = generate(40, bad_every=1000, repeat_every=1000).rows
    first = send(window, headers, to_csv(rows[:30]))
    process(first.json["id"])
    # The second file brings rows 21-30 of the first again (same records) and 10 new ones.
    second = send(window, headers, to_csv(rows[20:]))
    process(second.json["id"])
    got = window.client.get(f"/api/v1/imports/{second.json['id']}", headers=headers).json
    assert (got["valid"], got["duplicate"], got["invalid"]) == (10, 10, 0)
    issues = all_issues(window, headers, second.json["id"])
    assert [(i["row"], i["reason"]) for i in issues] == [
        (n + 2, f"already held (import {first.json['id']}, row {n + 22})") for n in range(10)
    ]
    assert count(ImportRecord) == 40
    assert count(Learner) == count(Account) == 40


def test_existing_accounts_are_matched_by_document(window: Window) -> None:
    headers = window.token()
    number = window.open_account(headers)  # opened and approved at the window
    with db.transaction() as session:
        (account,) = session.scalars(select(Account)).all()
        document = worker_context().cipher.decrypt(
            session.get(Learner, account.learner_id).document_enc, "learner.document_number"
        )
    known = {**person(1), "document_number": document, "name": "张三"}
    wrong_name = {**known, "name": "王五", "programme": "另一门课"}
    rows = [
        {**known, **GOOD_TRAINING, "certificate_number": "PX1"},
        {**wrong_name, **GOOD_TRAINING, "programme": "另一门课", "certificate_number": "PX2"},
        {**person(500), **GOOD_TRAINING, "certificate_number": "PX3"},
    ]
    r = send(window, headers, to_csv(rows))
    process(r.json["id"])
    got = window.client.get(f"/api/v1/imports/{r.json['id']}", headers=headers).json
    assert (got["valid"], got["invalid"], got["accounts_opened"]) == (2, 1, 1)
    (issue,) = all_issues(window, headers, r.json["id"])
    assert (issue["row"], issue["column"]) == (3, "姓名")
    assert issue["reason"].startswith("not the name on learning account ZJ")
    assert number not in issue["reason"]  # masked
    with db.transaction() as session:
        held = session.scalar(select(ImportRecord).where(ImportRecord.row == 2))
        assert held is not None and held.account_id == account.id
    assert count(Account) == 2


def batch_decision(
    application_id: str, outcome: str, rejected_rows: list[dict[str, Any]] | None = None,
    reason: str | None = None,
) -> str:  # fmt: skip
    message = {
        "message_id": uuid.uuid4(),
        "application_id": uuid.UUID(application_id),
        "round": 1,
        "level": "subcentre",
        "outcome": outcome,
        "decided_by_id": 901,
        "decided_by": "sc-reviewer",
        "decided_at": "2026-11-27T00:00:00+00:00",
        "reason": reason,
        "rejected_rows": rejected_rows or [],
    }
    with db.transaction() as session:
        return decisions.apply_decision(session, worker_context(), message)


def test_an_approved_batch_posts_each_record_once_except_rejected_rows(window: Window) -> None:
    headers = window.token()
    generated = generate(50, bad_every=1000, repeat_every=1000)
    r = send(window, headers, to_csv(generated.rows))
    process(r.json["id"])
    batch = window.client.get(f"/api/v1/imports/{r.json['id']}", headers=headers).json
    rejected = [{"row": 5, "reason": "证书无法核实"}, {"row": 9, "reason": "学时与证书不符"}]
    assert batch_decision(batch["application_id"], "approved", rejected) == "approved"
    assert batch_decision(batch["application_id"], "approved", rejected) == "stale"
    got = window.client.get(f"/api/v1/imports/{r.json['id']}", headers=headers).json
    assert got["status"] == "approved"
    assert count(LedgerEntry) == 48
    records = window.client.get(
        f"/api/v1/imports/{r.json['id']}/records?status=rejected", headers=headers
    ).json
    assert [(i["row"], i["rejected_reason"], i["rejected_level"]) for i in records["items"]] == [
        (5, "证书无法核实", "subcentre"),
        (9, "学时与证书不符", "subcentre"),
    ]
    with db.transaction() as session:
        hours = session.scalar(select(func.sum(LedgerEntry.hours)))
        kinds = set(session.scalars(select(LedgerEntry.outcome_kind)))
        paths = set(session.scalars(select(LedgerEntry.unit_path)))
    expected = sum(int(row["hours"]) for n, row in enumerate(generated.rows, 2) if n not in (5, 9))
    assert hours == expected and kinds == {"social_training"}
    assert paths == {"/ZJ/B01/S001/AP000001/"}
    with db.transaction() as session:  # the batch's one statement, rolled up once
        day = session.execute(select(LedgerDay.entry_kind, LedgerDay.entries, LedgerDay.hours))
        assert day.all() == [("import", 48, expected)]


def test_a_rejected_batch_posts_nothing_and_its_records_may_come_again(window: Window) -> None:
    headers = window.token()
    rows = generate(10, bad_every=1000, repeat_every=1000).rows
    first = send(window, headers, to_csv(rows))
    process(first.json["id"])
    batch = window.client.get(f"/api/v1/imports/{first.json['id']}", headers=headers).json
    assert batch_decision(batch["application_id"], "rejected", reason="机构资质不符") == "rejected"
    got = window.client.get(f"/api/v1/imports/{first.json['id']}", headers=headers).json
    assert got["status"] == "rejected" and count(LedgerEntry) == 0
    # Sent again (corrected: another file), the same records are taken, not duplicates.
    second = send(window, headers, to_csv(rows, encoding="gbk"))
    process(second.json["id"])
    again = window.client.get(f"/api/v1/imports/{second.json['id']}", headers=headers).json
    assert (again["valid"], again["duplicate"], again["accounts_opened"]) == (10, 0, 0)


def test_a_chunk_done_again_changes_nothing(window: Window) -> None:
    headers = window.token()
    r = send(window, headers, to_csv(generate(30).rows))
    process(r.json["id"])
    before = window.client.get(f"/api/v1/imports/{r.json['id']}", headers=headers).json
    with db.transaction() as session:
        assert (
            chunks.read_chunk(session, worker_context(), uuid.UUID(r.json["id"]), 0)
            == "done already"
        )
        assert lifecycle.prepare(session, worker_context(), uuid.UUID(r.json["id"])) == (
            "prepared already"
        )
    after = window.client.get(f"/api/v1/imports/{r.json['id']}", headers=headers).json
    assert after == before


SUBCENTRE_REVIEWER = {"unit": "S001", "path": "/ZJ/B01/S001/", "level": "subcentre",
                      "roles": ("reviewer",), "state": None}  # fmt: skip
OTHER_POINT = {"unit": "AP000002", "path": "/ZJ/B01/S002/AP000002/"}


def test_staff_who_are_not_a_window_cannot_send_an_import(window: Window) -> None:
    subcentre = window.token(**SUBCENTRE_REVIEWER)
    data = to_csv(generate(5, seed=9).rows)
    assert send(window, subcentre, data).status_code == 403
    assert count(Import) == count(Outbox) == 0
    assert send(window, window.token(), data).status_code == 202  # a window's staff may


def test_a_suspended_point_cannot_send_an_import(window: Window) -> None:
    suspended = window.token(state="SUSPENDED")
    data = to_csv(generate(5, seed=3).rows)
    assert send(window, suspended, data).status_code == 403
    assert count(Import) == count(Outbox) == 0
    assert send(window, window.token(state="OPERATING"), data).status_code == 202


def test_an_import_is_seen_within_its_points_subtree_only(window: Window) -> None:
    point = window.token()
    r = send(window, point, to_csv(generate(5).rows))
    subcentre = window.token(**SUBCENTRE_REVIEWER)
    other_point = window.token(**OTHER_POINT)
    assert (
        window.client.get(f"/api/v1/imports/{r.json['id']}", headers=subcentre).status_code == 200
    )
    assert (
        window.client.get(f"/api/v1/imports/{r.json['id']}", headers=other_point).status_code == 404
    )
    listed = window.client.get("/api/v1/imports", headers=other_point).json
    assert listed["total"] == 0
    assert window.client.get("/api/v1/imports", headers=point).json["total"] == 1


BAD_FILES = [
    (b"%PDF-1.4 whatever", 415, "the file is a PDF document"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 415, "an Excel 97-2003 (.xls) workbook"),
    ("姓名,证件号码\n".encode("utf-16"), 415, "encoded as UTF-16 LE"),
    ("姓名,证件类型\n".encode() + b"\xff\xfe\xfd\x80\x80\n", 415, "neither UTF-8 nor GBK"),
    (b"", 422, "empty"),
    (b"PK\x03\x04 not really a workbook", 415, "not a readable XLSX workbook"),
    ("姓名,证件类型\n张\x00三,居民身份证\n".encode(), 415, "holds a NUL byte at offset 23"),
]


@pytest.mark.parametrize(("data", "status", "reason"), BAD_FILES)
def test_a_bad_file_gets_one_clear_error_and_leaves_nothing(
    window: Window, data: bytes, status: int, reason: str
) -> None:
    r = send(window, window.token(), data)
    assert r.status_code == status, r.json
    (error,) = r.json["errors"]
    assert error["field"] == "file" and reason in error["reason"], error
    assert count(Import) == count(Outbox) == count(ImportIssue) == 0


def test_missing_unknown_and_repeated_columns_are_named(window: Window) -> None:
    rows = generate(3).rows
    headers = ["姓名", "证件号码", "证件号码", "手机号码", "培训机构", "培训项目", "开始日期",
               "结束日期", "学时", "备注"]  # fmt: skip
    r = send(window, window.token(), to_csv(rows, headers=headers))
    assert r.status_code == 422
    reasons = [e["reason"] for e in r.json["errors"]]
    assert reasons == [
        "missing columns: 证件类型, 证书编号",
        "unknown columns: 备注",
        "repeated columns: 证件号码",
    ]
    assert count(Import) == 0


def test_a_file_of_a_header_and_no_rows_is_422(window: Window) -> None:
    header_only = send(window, window.token(), to_csv([]))
    assert header_only.status_code == 422
    assert header_only.json["errors"][0]["reason"] == "a header and no rows"
    assert count(Import) == count(Outbox) == 0


@pytest.fixture
def limited(var_dir: Any) -> Iterator[Window]:
    """A window of an intake app taking at most 50 rows and 20,000 bytes a file."""
    app = create_app({"max_import_rows": 50, "max_import_bytes": 20_000})
    with app.app_context():
        yield Window(app.test_client(), var_dir)


def test_a_csv_file_over_the_row_limit_is_refused_before_any_row(limited: Window) -> None:
    r = send(limited, limited.token(), to_csv(generate(51).rows))
    assert r.status_code == 413
    assert r.json["errors"][0]["reason"] == "51 rows; at most 50"
    assert count(Import) == count(Outbox) == 0
    assert send(limited, limited.token(), to_csv(generate(50).rows)).status_code == 202


def test_a_workbook_over_the_row_limit_is_refused_before_any_row(limited: Window) -> None:
    r = send(limited, limited.token(), to_xlsx(generate(51).rows), "records.xlsx")
    assert r.status_code == 413 and r.json["errors"][0]["reason"] == "51 rows; at most 50"
    assert count(Import) == count(Outbox) == 0


def test_a_file_over_the_size_limit_is_refused_before_any_row(limited: Window) -> None:
    rows = to_csv(generate(50).rows)
    r = send(limited, limited.token(), rows + b"#" * 20_000)
    assert r.status_code == 413 and r.json["errors"][0]["field"] == "file"
    assert count(Import) == count(Outbox) == 0
    assert send(limited, limited.token(), rows).status_code == 202  # the same rows, unpadded


def test_a_refused_opening_is_opened_by_the_import_and_a_pending_one_waits(
    window: Window,
) -> None:
    from tests.factories import decide

    headers = window.token()
    refused = window.learner(name="赵六")
    r = window.client.post("/api/v1/accounts", headers=headers, json=refused)
    decide(r.json["id"], "rejected", reason="材料不全")
    pending = window.learner(name="钱七")
    assert window.client.post("/api/v1/accounts", headers=headers, json=pending).status_code == 201
    rows = [
        {**person(1), "name": "赵六", "document_number": refused["document_number"],
         **GOOD_TRAINING, "certificate_number": "PX1"},
        {**person(2), "name": "钱七", "document_number": pending["document_number"],
         **GOOD_TRAINING, "certificate_number": "PX2"},
    ]  # fmt: skip
    r = send(window, headers, to_csv(rows))
    process(r.json["id"])
    got = window.client.get(f"/api/v1/imports/{r.json['id']}", headers=headers).json
    assert (got["valid"], got["invalid"], got["accounts_opened"]) == (1, 1, 1)
    (issue,) = all_issues(window, headers, r.json["id"])
    assert (issue["row"], issue["column"], issue["reason"]) == (
        3,
        "证件号码",
        "an application to open this learner's account is still in review",
    )
    with db.transaction() as session:
        reopened = session.scalar(select(Account).join(Learner).where(Learner.name_mask == "赵*"))
        assert reopened is not None and reopened.status.value == "open"
        assert reopened.number and reopened.opened_by_import_id == uuid.UUID(r.json["id"])


def test_no_name_id_or_phone_number_is_kept_in_clear(window: Window, caplog: Any) -> None:
    import logging
    import os
    import subprocess
    from pathlib import Path

    from sqlalchemy.engine import make_url

    from services.intake.imports.lifecycle import store_root

    caplog.set_level(logging.DEBUG)
    headers = window.token()
    generated = generate(40, seed=11)
    r = send(window, headers, to_csv(generated.rows, encoding="gbk"))
    process(r.json["id"])
    secrets = {row["document_number"] for row in generated.rows} | {
        row["phone"] for row in generated.rows if len(row["phone"]) == 11
    }
    secrets |= {row["name"] for row in generated.rows if len(row["name"]) > 1}
    url = make_url(os.environ["CB_INTAKE_DATABASE_URL"])
    dump = subprocess.run(
        ["pg_dump", "--data-only", "-h", url.host or "127.0.0.1", "-U", "postgres",
         url.database or ""],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    stored = b"".join(
        p.read_bytes() for p in Path(store_root(worker_context())).rglob("*") if p.is_file()
    )
    assert "杭州市职业技能培训中心" in dump and stored  # the dump and the store are real
    for secret in secrets:
        assert secret not in dump, "personal data in clear in the database"
        assert secret.encode() not in stored, "personal data in clear in the file store"
        assert secret.encode("gbk") not in stored
        assert secret not in caplog.text, "personal data in clear in the logs"


def test_a_workbook_holding_more_rows_than_it_declares_is_refused_when_read(
    window: Window,
) -> None:
    import re
    import zipfile

    from services.intake import config
    from services.intake.context import build_context

    book = io.BytesIO(to_xlsx(generate(60, bad_every=1000, repeat_every=1000).rows))
    out = io.BytesIO()
    with zipfile.ZipFile(book) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":  # declares 9 rows, holds 60
                data = re.sub(rb'<dimension ref="[^"]+"', b'<dimension ref="A1:J10"', data)
            dst.writestr(item, data)
    headers = window.token()
    r = send(window, headers, out.getvalue(), "records.xlsx")
    assert r.status_code == 202 and r.json["rows_total"] == 9, r.json
    small = build_context(config.settings({"max_import_rows": 50}))
    with db.transaction() as session:
        assert lifecycle.prepare(session, small, uuid.UUID(r.json["id"])) == "refused"
    got = window.client.get(f"/api/v1/imports/{r.json['id']}", headers=headers).json
    assert got["status"] == "refused" and got["rows_read"] == 0
    (issue,) = all_issues(window, headers, r.json["id"])
    assert (issue["row"], issue["column"], issue["reason"]) == (
        1,
        "file",
        "more than 50 rows, though the workbook declares fewer",
    )
    assert count(ImportRecord) == count(Learner) == count(ImportChunk) == 0


def test_a_value_a_spreadsheet_would_run_is_exported_as_text(window: Window) -> None:
    headers = window.token()
    row = {**person(3), **GOOD_TRAINING, "certificate_number": "PX9"}
    row["hours"] = '=HYPERLINK("http://example.invalid","x")'
    r = send(window, headers, to_csv([row]))
    process(r.json["id"])
    csv_body = window.client.get(f"/api/v1/imports/{r.json['id']}/errors.csv", headers=headers)
    lines = list(csv.reader(io.StringIO(csv_body.data.decode("utf-8-sig"))))
    assert lines[1][:4] == ["2", "学时", "invalid", "'" + row["hours"]]


def test_a_withdrawn_batch_posts_nothing_and_its_records_may_come_again(window: Window) -> None:
    headers = window.token()
    rows = generate(8, bad_every=1000, repeat_every=1000).rows
    first = send(window, headers, to_csv(rows))
    process(first.json["id"])
    batch = window.client.get(f"/api/v1/imports/{first.json['id']}", headers=headers).json
    r = window.client.post(
        f"/api/v1/applications/{batch['application_id']}/withdraw",
        headers=headers,
        json={"reason": "发错了文件"},
    )
    assert r.status_code == 200, r.json
    got = window.client.get(f"/api/v1/imports/{first.json['id']}", headers=headers).json
    assert got["status"] == "withdrawn"
    # The late decision of a withdrawn batch changes nothing.
    assert batch_decision(batch["application_id"], "approved") == "stale"
    assert count(LedgerEntry) == 0
    with db.transaction() as session:
        withdrawn = session.scalars(select(Outbox.task_name)).all()
    assert "review.withdraw_application" in withdrawn
    second = send(window, headers, to_csv(rows, encoding="gbk"))
    process(second.json["id"])
    again = window.client.get(f"/api/v1/imports/{second.json['id']}", headers=headers).json
    assert (again["valid"], again["duplicate"]) == (8, 0)


def test_a_learner_in_several_chunks_gets_one_account_and_each_record(var_dir: Any) -> None:
    app = create_app({"import_chunk_rows": 2})
    with app.app_context():
        window = Window(app.test_client(), var_dir)
        headers = window.token()
        a, b = person(1), person(2)
        rows = [
            {**a, **GOOD_TRAINING, "programme": "课程一", "certificate_number": "C1"},
            {**b, **GOOD_TRAINING, "programme": "课程一", "certificate_number": "C2"},
            {**b, **GOOD_TRAINING, "programme": "课程二", "certificate_number": "C3"},
            {**a, **GOOD_TRAINING, "programme": "课程二", "certificate_number": "C4"},
            {**a, **GOOD_TRAINING, "programme": "课程三", "certificate_number": "C5"},
        ]
        r = send(window, headers, to_csv(rows))
        process(r.json["id"])
        got = window.client.get(f"/api/v1/imports/{r.json['id']}", headers=headers).json
        assert (got["valid"], got["accounts_opened"]) == (5, 2)
        assert count(Learner) == count(Account) == 2 and count(ImportChunk) == 3
        with db.transaction() as session:
            per_learner = sorted(
                session.execute(
                    select(func.count()).select_from(ImportRecord).group_by(ImportRecord.learner_id)
                ).scalars()
            )
        assert per_learner == [2, 3]
    db.remove()


def test_a_batch_in_review_is_sent_for_reconciliation_as_first_handed_over(
    window: Window,
) -> None:
    from datetime import timedelta

    from services.intake import reconcile

    headers = window.token()
    r = send(window, headers, to_csv(generate(30, seed=4).rows))
    process(r.json["id"])
    with db.transaction() as session:
        (handoff,) = session.scalars(
            select(Outbox.payload).where(Outbox.task_name == "review.open_case")
        ).all()
        assert reconcile.send_for_reconciliation(session, timedelta(0)) == 1
    with db.transaction() as session:
        (sweep,) = session.scalars(
            select(Outbox.payload).where(Outbox.task_name == "review.reconcile")
        ).all()
    (again,) = sweep["applications"]  # checked against its contract when it was written
    assert again["batch"] == handoff["batch"] and again["kind"] == "import"


def test_the_sweep_resends_what_a_stalled_import_waits_for_once_per_grace(
    window: Window,
) -> None:
    from datetime import timedelta

    headers = window.token()
    r = send(window, headers, to_csv(generate(12, seed=7).rows))
    import_id = uuid.UUID(r.json["id"])

    def resend(grace: float) -> int:
        with db.transaction() as session:
            return lifecycle.resume(session, timedelta(seconds=grace))

    assert resend(3600) == 0  # not stalled yet
    assert resend(0) == 1  # its preparation again
    assert resend(60) == 0  # sent a moment ago: not again within the grace
    with db.transaction() as session:
        lifecycle.prepare(session, worker_context(), import_id)
        chunk = session.scalar(select(ImportChunk).where(ImportChunk.import_id == import_id))
        assert chunk is not None
        chunks.read_chunk(session, worker_context(), import_id, chunk.number)
    assert resend(0) == 0  # every chunk done: nothing to send


@pytest.mark.parametrize(("records", "expected"), [(5, [2, 3, 4, 5, 6]), (39, None), (300, None)])
def test_samples_span_the_file_from_its_first_record_to_its_last(
    records: int, expected: list[int] | None
) -> None:
    numbers = list(range(2, records + 2))
    picked = batches.spread(numbers, batches.SAMPLE_ROWS)
    assert picked == (expected or sorted(set(picked)))  # in order, none twice
    assert len(picked) == min(records, batches.SAMPLE_ROWS)
    assert picked[0] == numbers[0] and picked[-1] == numbers[-1]
