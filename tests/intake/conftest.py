"""Intake fixtures: fresh tables per test, a client, a window to act at
(``tests.factories.Window``), and what intake's own tests count and import."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from services.intake.context import db, worker_context
from services.intake.imports import chunks, lifecycle
from services.intake.models import ImportChunk
from tests.factories import Window


@pytest.fixture(autouse=True)
def fresh_intake(clean_intake: None) -> Iterator[None]:
    yield


@pytest.fixture
def client(intake_app: Flask) -> Iterator[FlaskClient]:
    with intake_app.app_context():
        yield intake_app.test_client()


@pytest.fixture
def window(client: FlaskClient, var_dir: Any) -> Window:
    return Window(client, var_dir)


def count(model: Any) -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


# ---- bulk imports ------------------------------------------------------------------------


def send(window: Window, headers: dict[str, str], data: bytes, name: str = "records.csv") -> Any:
    """An import file sent to ``POST /api/v1/imports``."""
    return window.client.post(
        "/api/v1/imports",
        headers=headers,
        data={"file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def process(import_id: str) -> None:
    """What the import worker does: prepare, then every chunk (each its own transaction)."""
    ctx = worker_context()
    with db.transaction() as session:
        lifecycle.prepare(session, ctx, uuid.UUID(import_id))
    with db.transaction() as session:
        numbers = session.scalars(
            select(ImportChunk.number).where(ImportChunk.import_id == uuid.UUID(import_id))
        ).all()
    for number in numbers:
        with db.transaction() as session:
            chunks.read_chunk(session, ctx, uuid.UUID(import_id), number)


# ---- certificates (pure: keys in a temporary directory, lists in memory) -----------------


CERTIFICATE_KEY_MADE = "2026-03-01T00:00:00+00:00"  # the bank's first key
CERTIFICATE_JUDGED = "2026-03-10T00:00:00+00:00"  # when the tests verify


@pytest.fixture
def certificate_bank(tmp_path: Any) -> CertificateBank:
    from datetime import datetime

    return CertificateBank(tmp_path / "certificates", datetime.fromisoformat(CERTIFICATE_KEY_MADE))


class CertificateBank:
    """A bank that signs certificates: its key ring, key list, status lists, and the
    ``status_source`` a verifier is given (``unreachable`` makes it fail)."""

    ISSUER = "https://creditbank.example/issuer"
    KEY_LIST = "https://creditbank.example/certificates/keys.json"
    REVOCATION = "https://creditbank.example/certificates/status/1/revocation"
    SUSPENSION = "https://creditbank.example/certificates/status/1/suspension"

    def __init__(self, directory: Any, now: Any) -> None:
        from services.intake.certificates import credential, keys, status_list

        self.ring = keys.KeyRing(directory)
        self.now = now
        self.ring.generate(now)
        self.issuer = credential.Issuer(self.ISSUER)
        self.lists = {
            self.REVOCATION: status_list.StatusList(),
            self.SUSPENSION: status_list.StatusList(),
        }
        self.served: dict[str, str] = {}
        self.unreachable: set[str] = set()
        self.publish()

    @property
    def key(self) -> Any:
        return self.ring.current(self.now)

    def key_list(self) -> Any:
        import json

        from services.intake.certificates.keys import KeyList

        return KeyList.parse(json.dumps(self.key_list_document()))

    def key_list_document(self) -> dict[str, Any]:
        return self.ring.key_list(self.KEY_LIST, self.ISSUER, self.now)

    def publish(self, at: Any = None) -> None:
        """Every status list signed again as of ``at`` (default: now)."""
        import json

        from services.intake.certificates import status_list

        for url, bits in self.lists.items():
            purpose = "revocation" if url == self.REVOCATION else "suspension"
            document = status_list.list_credential(
                url,
                purpose,
                bits,
                self.ISSUER,
                at or self.now,
                self.key.private_key,
                self.key.method_id(self.KEY_LIST),
            )
            self.served[url] = json.dumps(document, ensure_ascii=False)

    def status_source(self, url: str) -> str:
        if url in self.unreachable:
            raise ConnectionError("connection refused")
        return self.served[url]

    def sign(self, facts: Any) -> dict[str, Any]:
        from services.intake.certificates import credential

        return credential.sign(
            facts, self.issuer, self.key.private_key, self.key.method_id(self.KEY_LIST)
        )

    def payload(self, facts: Any) -> str:
        from services.intake.certificates import cose

        key = self.key
        return cose.encode(cose.claims_of(facts, self.ISSUER), key.private_key, key.info.kid)


def certificate_facts(outcomes: int = 1, **changes: Any) -> Any:
    """The facts of a certificate of ``outcomes`` outcomes, issued 2026-03-02 08:00 UTC."""
    import dataclasses
    from datetime import UTC, date, datetime
    from decimal import Decimal

    from services.intake.certificates import credential as c

    salt = "0123456789abcdef"
    issued = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    kinds = ("social_training", "skill_certificate", "vocational_certificate", "academic_credit")
    facts = c.Facts(
        number="ZJ2026000123",
        issued_at=issued,
        valid_from=issued,
        valid_until=datetime(2031, 3, 2, 8, 0, tzinfo=UTC),
        learner_name="王小明",
        id_hash=c.hash_identity("33010219900101123X", salt),
        id_salt=salt,
        unit_code="ZJ-HZ-XH",
        unit_name="杭州市西湖区终身教育学分银行分中心",
        accepted=c.ReviewStep(
            "acceptance_point", "AP000001", "西湖区文新街道受理点", date(2026, 2, 20)
        ),
        approvals=(
            c.ReviewStep("acceptance_point", "AP000001", "西湖区文新街道受理点", date(2026, 2, 21)),
            c.ReviewStep("subcentre", "ZJ-HZ-XH", "杭州市西湖区分中心", date(2026, 2, 24)),
            c.ReviewStep("branch", "ZJ-HZ", "杭州市分部", date(2026, 2, 26)),
        ),
        outcomes=tuple(
            c.Outcome(
                code=f"LO-2025-{i:04d}",
                kind=kinds[i % len(kinds)],
                title=f"Web前端开发职业技能等级证书（中级）第{i}项",
                credits=Decimal("3"),
                achieved_on=date(2025, 6, 30),
                hours=Decimal("48"),
            )
            for i in range(1, outcomes + 1)
        ),
        status_index=94_211,
        revocation_list=CertificateBank.REVOCATION,
        suspension_list=CertificateBank.SUSPENSION,
        conversions=(
            c.Conversion(
                "R-2026-1",
                "网页设计",
                "ZJOU-CS-WEB",
                Decimal("3"),
                date(2026, 2, 26),
                ("LO-2025-0001",),
            ),
        ),
    )
    return dataclasses.replace(facts, **changes)
