"""Names, ID and phone numbers are never in clear: not in the database, the outbox or the
logs."""

from __future__ import annotations

import logging
import os
import subprocess

from sqlalchemy.engine import make_url

from tests.factories import Window, decide, mobile, resident_id


def test_database_dump_holds_no_id_or_phone_number_in_clear(window: Window, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    headers = window.token()
    secrets = []
    for name in ("欧阳明华", "司马相如", "诸葛孔明", "上官婉儿", "慕容复生"):
        number, phone = resident_id(), mobile()
        secrets += [number, phone, name]
        r = window.open(
            headers,
            name=name,
            document_number=number,
            phone=phone,
            **{} if len(secrets) > 2 else {"document_type": "resident_id"},
        )
        assert r.status_code == 201
        decide(r.json["id"], "approved")
    r = window.open(headers, document_number=secrets[0], name="欧阳明华")  # refused: a duplicate
    assert r.status_code == 409
    url = make_url(os.environ["CB_INTAKE_DATABASE_URL"])
    dump = subprocess.run(
        [
            "pg_dump",
            "--data-only",
            "-h",
            url.host or "127.0.0.1",
            "-U",
            url.username or "postgres",
            url.database or "",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert "欧**华" in dump  # the dump is real: the learners are there, masked
    for secret in secrets:
        assert secret not in dump, "personal data in clear in the intake database"
        assert secret not in caplog.text, "personal data in clear in the logs"
