"""Intake's metrics: an account number in a URL never reaches a label; imports in progress."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry
from sqlalchemy import text

from services.intake.context import db
from shared.db import make_engine
from shared.metrics_exporter import SystemCollector
from shared.settings import load_settings
from tests.factories import Window


def test_an_account_number_in_a_url_never_appears_in_the_metrics(window: Window) -> None:
    headers = window.token()
    number = window.open_account(headers)
    assert window.client.get(f"/api/v1/accounts/{number}", headers=headers).status_code == 200
    assert (
        window.client.get(f"/api/v1/accounts/{number}/ledger", headers=headers).status_code == 200
    )
    body = window.client.get("/metrics").data.decode()
    assert number not in body
    assert 'endpoint="/api/v1/accounts/<account>"' in body
    assert 'endpoint="/api/v1/accounts/<account>/ledger"' in body


def registry() -> CollectorRegistry:
    engine = make_engine(load_settings("intake").database_url)
    reg = CollectorRegistry()
    reg.register(SystemCollector(_NoRedis(), {"intake": engine}))
    return reg


class _NoRedis:
    def pipeline(self, **_kw: Any) -> Any:
        raise ConnectionError("not asked here")


def test_imports_in_progress_are_counted_by_status(window: Window) -> None:
    assert (
        registry().get_sample_value("cb_intake_imports_in_progress", {"status": "processing"}) == 0
    )
    with db.transaction() as session:
        for n, status in enumerate(("received", "processing", "processing", "in_review")):
            session.execute(
                text(
                    "INSERT INTO imports (id, unit_code, unit_path, uploaded_by_id, uploaded_by,"
                    " file_sha256, filename, file_format, size, chunk_size, status, rows_read,"
                    " valid, invalid, duplicate, accounts_opened, hours_total)"
                    " VALUES (gen_random_uuid(), 'AP000001', '/ZJ/B01/S001/AP000001/', 1, 'u',"
                    " :sha, 'f.csv', 'csv', 1, 5000, :status, 0, 0, 0, 0, 0, 0)"
                ),
                {"sha": f"{n:064d}", "status": status},
            )
    reg = registry()
    assert reg.get_sample_value("cb_intake_imports_in_progress", {"status": "received"}) == 1
    assert reg.get_sample_value("cb_intake_imports_in_progress", {"status": "processing"}) == 2
    # Redis did not answer: its source is down, intake's still stands.
    assert reg.get_sample_value("cb_exporter_source_up", {"source": "redis"}) == 0
    assert reg.get_sample_value("cb_exporter_source_up", {"source": "intake"}) == 1
