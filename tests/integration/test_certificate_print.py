"""A certificate printed and checked as its reader would, through real workers on real Redis
(every message delivered twice): a learner's deposit approved up its route, a certificate
application approved up its route, the certificate issued; its PDF read back with pdftotext,
its QR code decoded from the rendered page and verified by the bank and offline with the
published lists; a QR code copied from another certificate refused for the number printed;
the certificate still genuine after a key rotation, then revoked with its reason."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import select, text

from tests.factories import REVIEW_TABLES, TokenFactory, Window
from tests.helpers import ROOT, drained, running_worker, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.usefixtures("clean_intake")]
QUEUES = ["review.acceptance_point", "review.subcentre", "intake"]
LEVELS = {
    "acceptance_point": ("AP000001", "/ZJ/B01/S001/AP000001/", "acceptance_point"),
    "subcentre": ("S001", "/ZJ/B01/S001/", "subcentre"),
}
SUBCENTRE_REVIEWER = ("S001", "/ZJ/B01/S001/", "subcentre", ("reviewer",), None)


@pytest.fixture
def review() -> Iterator[Any]:
    from services.review.app import create_app as review_app
    from services.review.context import worker_db as review_db
    from services.review.routing import seed_routes

    with review_db().transaction() as session:
        session.execute(text(f"TRUNCATE {REVIEW_TABLES}"))
        seed_routes(session)
    yield review_app().test_client()


def flat(data: bytes) -> str:
    """The PDF's text as pdftotext reads it, without its layout's spaces and line breaks."""
    done = subprocess.run(
        ["pdftotext", "-", "-"], input=data, capture_output=True, check=True, timeout=60
    )
    return "".join(done.stdout.decode().split())


def last_page_image(data: bytes) -> Image.Image:
    info = subprocess.run(["pdfinfo", "-"], input=data, capture_output=True, check=True)
    pages = next(x for x in info.stdout.decode().splitlines() if x.startswith("Pages:"))
    page = pages.split()[1]
    done = subprocess.run(
        ["pdftoppm", "-r", "100", "-png", "-f", page, "-l", page, "-singlefile", "-"],
        input=data,
        capture_output=True,
        check=True,
        timeout=60,
    )
    return Image.open(io.BytesIO(done.stdout)).convert("RGB")


def qr_of(image: Image.Image) -> str:
    (found,) = [
        r.text for r in zxingcpp.read_barcodes(image) if r.format == zxingcpp.BarcodeFormat.QRCode
    ]
    return str(found)


def test_a_certificate_printed_verifies_from_its_paper(
    intake_app, review, relays_twice, task_runs, var_dir, tmp_path: Path
) -> None:
    import services.intake.tasks  # noqa: F401 - registers intake's tasks on the worker's app
    from deploy import certificate_keys
    from services.intake.certificates.models import Certificate
    from services.intake.context import worker_db as intake_db
    from services.intake.models import Application
    from services.review.worker import celery

    tokens = TokenFactory(var_dir)
    reviewers = {level: tokens.make(*where) for level, where in LEVELS.items()}

    def case_at(level: str, application_id: str) -> str | None:
        items = review.get("/api/v1/inbox?per_page=100", headers=reviewers[level]).json["items"]
        return next((c["id"] for c in items if c["application_id"] == application_id), None)

    def approve_up(application_id: str) -> None:
        for level in LEVELS:
            case_id = wait_for(lambda level=level: case_at(level, application_id), timeout=30)
            r = review.post(
                f"/api/v1/cases/{case_id}/decision",
                headers=reviewers[level],
                json={"decision": "approve"},
            )
            assert r.status_code == 200, r.json

    def status(application_id: str) -> str:
        with intake_db().transaction() as session:
            return session.get_one(Application, application_id).status.value

    def certificate_of(application_id: str) -> str | None:
        with intake_db().transaction() as session:
            found = session.scalar(
                select(Certificate.id).where(Certificate.application_id == application_id)
            )
            return None if found is None else str(found)

    with intake_app.app_context(), running_worker(celery, QUEUES):
        window = Window(intake_app.test_client(), var_dir)
        client = window.client
        clerk = window.token(name="小营街道社区学校")
        account = window.open_account(clerk)
        deposit = client.post(
            "/api/v1/applications",
            headers=clerk,
            json=window.deposit_body(account, [window.upload(clerk)], programme="网页设计与制作"),
        )
        assert deposit.status_code == 201, deposit.json
        approve_up(deposit.json["id"])
        wait_for(lambda: status(deposit.json["id"]) == "approved", timeout=30)

        issued = []
        for _ in range(2):  # the second only to have a QR code to copy from
            r = client.post(
                "/api/v1/certificate-applications",
                headers=clerk,
                json={"account_number": account, "purpose": "求职"},
            )
            assert r.status_code == 201, r.json
            approve_up(r.json["id"])
            issued.append(wait_for(lambda r=r: certificate_of(r.json["id"]), timeout=30))
        wait_for(lambda: drained(celery, QUEUES), timeout=30)
    assert task_runs and set(task_runs.values()) == {2}, task_runs

    first, second = issued
    shown = client.get(f"/api/v1/certificates/{first}").json
    number = shown["number"]
    with intake_app.app_context():
        got = client.get(f"/api/v1/certificates/{first}/pdf")  # no sign-in: its address is the key
        assert got.status_code == 200 and got.mimetype == "application/pdf"
        assert f"certificate-{number}.pdf" in got.headers["Content-Disposition"]
        paper = flat(got.data)
        for expected in (
            number,
            "张三",
            "网页设计与制作",
            "社会培训",
            "小营街道社区学校",
            "受理点",
        ):
            assert expected in paper, expected
        assert "分中心" in paper and "证书编号：" + number in paper
        scanned = qr_of(last_page_image(got.data))
        assert scanned.startswith(shown["verify_url"] + "#ZJCB1:")
        assert (
            client.get("/api/v1/certificates/00000000-0000-4000-8000-000000000000/pdf").status_code
            == 404
        )

        def verdict(body: dict[str, Any]) -> dict[str, Any]:
            r = client.post("/api/v1/verify", json=body)
            assert r.status_code == 200, r.json
            return dict(r.json)

        online = verdict({"text": scanned, "number": number})
        assert online["outcome"] == "genuine", online
        assert online["claims"]["number"] == number and online["facts"]["learner_name"] == "张三"

        # offline: the key list and the status lists as published, saved to files
        files = {}
        for name, path in (
            ("keys", "/api/v1/certificate-keys"),
            ("revocation", "/api/v1/status-lists/revocation"),
            ("suspension", "/api/v1/status-lists/suspension"),
        ):
            r = client.get(path)
            assert r.status_code == 200
            files[name] = tmp_path / f"{name}.json"
            files[name].write_bytes(r.data)
        done = offline(files, scanned)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "verdict: genuine" in done.stdout and "as of " in done.stdout
        assert f"certificate {number}: 张三" in done.stdout

        # the second certificate's QR code pasted onto the first's paper
        other_pdf = client.get(f"/api/v1/certificates/{second}/pdf").data
        pasted = last_page_image(got.data)
        pasted.paste(last_page_image(other_pdf).crop(qr_box(pasted)), qr_box(pasted)[:2])
        copied = qr_of(pasted)
        assert copied != scanned
        refused = verdict({"text": copied, "number": number})  # the number on the paper
        assert refused["outcome"] == "not_genuine"
        assert refused["reasons"][0]["code"] == "NUMBER_MISMATCH"

        # a key rotation: what the old key signed still verifies
        assert certificate_keys.main(["rotate"]) == 0
        keys = client.get("/api/v1/certificate-keys").json
        assert len(keys["verificationMethod"]) == 2
        assert verdict({"text": scanned, "number": number})["outcome"] == "genuine"
        files["keys"].write_bytes(client.get("/api/v1/certificate-keys").data)
        again = offline(files, scanned)
        assert again.returncode == 0, again.stdout

        # revoked: the verdict says so, with the reason from the records
        reviewer = window.token(*SUBCENTRE_REVIEWER)
        r = client.post(
            f"/api/v1/certificates/{first}/revocation",
            headers=reviewer,
            json={"reason": "所附证书经核实系伪造"},
        )
        assert r.status_code == 200, r.json
        revoked = verdict({"text": scanned, "number": number})
        assert revoked["outcome"] == "revoked", revoked
        assert revoked["record"]["status"] == "revoked"
        assert revoked["record"]["reason"] == "所附证书经核实系伪造"
        # the old lists still say genuine as of their date; the new ones say revoked
        files["revocation"].write_bytes(client.get("/api/v1/status-lists/revocation").data)
        done = offline(files, scanned)
        assert done.returncode == 1 and "verdict: revoked" in done.stdout, done.stdout


def qr_box(image: Image.Image) -> tuple[int, int, int, int]:
    """Where the QR code is on the page (zxing-cpp's corners), with its quiet zone."""
    (found,) = [
        r for r in zxingcpp.read_barcodes(image) if r.format == zxingcpp.BarcodeFormat.QRCode
    ]
    p = found.position
    xs = [p.top_left.x, p.top_right.x, p.bottom_left.x, p.bottom_right.x]
    ys = [p.top_left.y, p.top_right.y, p.bottom_left.y, p.bottom_right.y]
    return (min(xs) - 8, min(ys) - 8, max(xs) + 8, max(ys) + 8)


def offline(files: dict[str, Path], scanned: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "deploy.verify_certificate", "--keys", str(files["keys"])]
    command += ["--status", str(files["revocation"]), "--status", str(files["suspension"])]
    return subprocess.run([*command, scanned], cwd=ROOT, capture_output=True, text=True, timeout=60)
