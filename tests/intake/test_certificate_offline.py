"""The offline verifier, run as a person runs it: ``python -m deploy.verify_certificate`` with
the published key list and cached status list files, a QR payload or a credential file."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import ROOT
from tests.intake.conftest import CERTIFICATE_JUDGED, CertificateBank, certificate_facts


@pytest.fixture(autouse=True)
def fresh_intake() -> Iterator[None]:
    """Pure: no tables to empty (this overrides the package's autouse fixture)."""
    yield


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "deploy.verify_certificate", "--at", CERTIFICATE_JUDGED]
    return subprocess.run(
        [*command, *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def files(certificate_bank: CertificateBank, tmp_path: Path) -> dict[str, Path]:
    """The key list and the two status lists as the bank publishes them, copied to disk."""
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps(certificate_bank.key_list_document(), ensure_ascii=False))
    revocation, suspension = tmp_path / "revocation.json", tmp_path / "suspension.json"
    revocation.write_text(certificate_bank.served[CertificateBank.REVOCATION])
    suspension.write_text(certificate_bank.served[CertificateBank.SUSPENSION])
    return {"keys": keys, "revocation": revocation, "suspension": suspension}


def test_a_genuine_qr_payload_is_genuine_as_of_the_lists_date(
    certificate_bank: CertificateBank, files: dict[str, Path]
) -> None:
    payload = certificate_bank.payload(certificate_facts(2))
    done = run(
        "--keys",
        files["keys"],
        "--status",
        files["revocation"],
        "--status",
        files["suspension"],
        payload,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "verdict: genuine" in done.stdout
    assert "as of 2026-03-01 00:00 UTC" in done.stdout
    assert "certificate ZJ2026000123: 王小明" in done.stdout
    assert "LO-2025-0002: 3 credits, 48 h, 2025-06-30" in done.stdout
    assert certificate_bank.key.info.fingerprint in done.stdout


def test_a_revoked_credential_file_is_revoked_from_a_bundle_of_lists(
    certificate_bank: CertificateBank, files: dict[str, Path], tmp_path: Path
) -> None:
    credential = tmp_path / "certificate.json"
    credential.write_text(json.dumps(certificate_bank.sign(certificate_facts(3)), indent=2))
    bundle = tmp_path / "lists.json"
    bundle.write_text("[" + ",".join(certificate_bank.served.values()) + "]")
    assert run("--keys", files["keys"], "--status", bundle, credential).returncode == 0
    certificate_bank.lists[CertificateBank.REVOCATION][certificate_facts().status_index] = True
    certificate_bank.publish()
    bundle.write_text("[" + ",".join(certificate_bank.served.values()) + "]")
    done = run("--keys", files["keys"], "--status", bundle, credential)
    assert done.returncode == 1
    assert "verdict: revoked" in done.stdout
    assert "revocation list says so" in done.stdout


def test_without_a_cached_list_the_verdict_is_not_genuine(
    certificate_bank: CertificateBank, files: dict[str, Path]
) -> None:
    payload = certificate_bank.payload(certificate_facts())
    done = run("--keys", files["keys"], "--status", files["revocation"], payload)
    assert done.returncode == 1
    assert "verdict: status_unavailable" in done.stdout
    assert "not among the cached status lists" in done.stdout


def test_a_forged_payload_is_not_genuine_and_a_bad_key_file_is_an_error(
    certificate_bank: CertificateBank, files: dict[str, Path], tmp_path: Path
) -> None:
    forger = CertificateBank(tmp_path / "forger", certificate_bank.now)
    statuses = ("--status", files["revocation"], "--status", files["suspension"])
    done = run("--keys", files["keys"], *statuses, forger.payload(certificate_facts()))
    assert done.returncode == 1
    assert "verdict: not_genuine" in done.stdout and "UNKNOWN_KEY" in done.stdout
    edited = json.loads(files["keys"].read_text())
    edited["verificationMethod"][0]["notBefore"] = "2000-01-01T00:00:00Z"
    files["keys"].write_text(json.dumps(edited))
    done = run("--keys", files["keys"], *statuses, certificate_bank.payload(certificate_facts()))
    assert done.returncode == 2
    assert "KEY_LIST_ERROR" in done.stderr
