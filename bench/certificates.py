"""Certificates: issued per second (the credential signed and the QR payload signed), PDFs
rendered per second, verifications per second (a credential's JSON; a QR code's text), next
to a bare Ed25519 verify measured in the same run.

    .venv/bin/python bench/certificates.py [--outcomes 5] [--rounds 5] [--pdfs 10]

In process, with no database: a key ring in a temporary directory, the status lists signed
in memory (what the bank publishes), the fonts from var/fonts (made on first use, as
``make fonts`` does). Each figure is the median of ``--rounds`` rounds; each round times a
batch (issuance and verification: 200 each; PDFs: ``--pdfs``). The PDF's wall and CPU time
are both printed: on a shared machine the wall time says more about the neighbours. A PDF
whose name needs a fallback font (王堃) is timed apart. Also: the QR code's version at Q
for 1, 5 and 50 outcomes, and the size of a PDF. Headline figures end the output as
``name: value`` lines.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from services.intake.certificates import (  # noqa: E402
    cose,
    credential,
    fonts,
    pdf,
    status_list,
    verify,
)
from services.intake.certificates.keys import KeyList, KeyRing  # noqa: E402
from shared.settings import load_settings  # noqa: E402

BASE = "https://creditbank.example"
KEY_LIST = f"{BASE}/certificates/keys.json"
ISSUER = f"{BASE}/issuer"
LISTS = {p: f"{BASE}/certificates/status/{p}" for p in ("revocation", "suspension")}
PAGE = f"{BASE}/v/0b6c2d1e-3f4a-4b5c-8d9e-0f1a2b3c4d5e"
MADE = datetime(2026, 3, 1, tzinfo=UTC)
ISSUED = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
JUDGED = datetime(2026, 3, 10, tzinfo=UTC)
BATCH = 200


def facts(outcomes: int, name: str = "王小明") -> credential.Facts:
    kinds = ("social_training", "skill_certificate", "vocational_certificate", "academic_credit")
    salt = credential.new_salt()
    return credential.Facts(
        number="ZJC20260000123",
        issued_at=ISSUED,
        valid_from=ISSUED,
        valid_until=None,
        learner_name=name,
        id_hash=credential.hash_identity("33010219900101123X", salt),
        id_salt=salt,
        unit_code="S001",
        unit_name="杭州市上城区分中心",
        accepted=credential.ReviewStep("acceptance_point", "AP000001", "小营街道社区学校",
                                       date(2026, 2, 20)),
        approvals=(
            credential.ReviewStep("acceptance_point", "AP000001", "小营街道社区学校",
                                  date(2026, 2, 21)),
            credential.ReviewStep("subcentre", "S001", "杭州市上城区分中心", date(2026, 2, 24)),
        ),
        outcomes=tuple(
            credential.Outcome(f"C-WEB.E{i}", kinds[i % 4], f"Web前端开发职业技能等级证书第{i}项",
                               Decimal("3"), date(2025, 6, 30), Decimal("48"))
            for i in range(1, outcomes + 1)
        ),
        status_index=94_211,
        revocation_list=LISTS["revocation"],
        suspension_list=LISTS["suspension"],
    )  # fmt: skip


class Bank:
    """A signing key, the key list and the two status lists, as the bank publishes them."""

    def __init__(self, directory: Path) -> None:
        self.ring = KeyRing(directory)
        self.ring.generate(MADE)
        self.key = self.ring.current(JUDGED)
        self.method = self.key.method_id(KEY_LIST)
        self.keys = KeyList.parse(json.dumps(self.ring.key_list(KEY_LIST, ISSUER, JUDGED)))
        self.served = {
            url: json.dumps(
                status_list.list_credential(url, purpose, status_list.StatusList(), ISSUER,
                                            JUDGED, self.key.private_key, self.method),
                ensure_ascii=False,
            )
            for purpose, url in LISTS.items()
        }  # fmt: skip

    def issue(self, stated: credential.Facts) -> tuple[str, str]:
        """What issuance signs: the credential's JSON and the QR payload."""
        document = credential.sign(
            stated, credential.Issuer(ISSUER), self.key.private_key, self.method
        )
        payload = cose.encode(cose.claims_of(stated, ISSUER), self.key.private_key,
                              self.key.info.kid)  # fmt: skip
        return json.dumps(document, ensure_ascii=False, separators=(",", ":")), payload

    def verify(self, text: str) -> verify.Verdict:
        return verify.verify(text, self.keys, self.served.__getitem__, JUDGED)


def rate(work: Callable[[], object], count: int, rounds: int) -> tuple[float, float]:
    """(operations per second, CPU ms per operation): medians of ``rounds`` batches."""
    rates, cpu = [], []
    for _ in range(rounds):
        wall, started = time.perf_counter(), time.process_time()
        for _ in range(count):
            work()
        rates.append(count / (time.perf_counter() - wall))
        cpu.append((time.process_time() - started) * 1000 / count)
    return statistics.median(rates), statistics.median(cpu)


def render_times(shown: pdf.Printed, faces: fonts.Fonts, count: int) -> tuple[float, float, int]:
    """(median wall ms, median CPU ms, size in bytes) of ``count`` renders."""
    wall, cpu, size = [], [], 0
    for _ in range(count):
        w, c = time.perf_counter(), time.process_time()
        size = len(pdf.render(shown, faces))
        wall.append((time.perf_counter() - w) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    return statistics.median(wall), statistics.median(cpu), size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outcomes", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pdfs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-certificates-") as directory:
        bank = Bank(Path(directory) / "keys")
        stated = facts(args.outcomes)
        text, payload = bank.issue(stated)
        scan = cose.scan_text(PAGE, payload)
        for checked in (text, payload, scan):
            assert bank.verify(checked).genuine, bank.verify(checked)

        bare_key = Ed25519PrivateKey.generate()
        message = b"x" * 64
        signature = bare_key.sign(message)
        public = bare_key.public_key()
        bare, bare_cpu = rate(lambda: public.verify(signature, message), 10 * BATCH, args.rounds)
        issued, issued_cpu = rate(lambda: bank.issue(dataclasses.replace(stated)), BATCH,
                                  args.rounds)  # fmt: skip
        by_json, json_cpu = rate(lambda: bank.verify(text), BATCH, args.rounds)
        by_qr, qr_cpu = rate(lambda: bank.verify(scan), BATCH, args.rounds)

        started = time.perf_counter()
        faces = fonts.prepared(Path(load_settings("intake").fonts_dir))
        prepared_s = time.perf_counter() - started
        shown = pdf.printed_of(stated, "居民身份证 3301**********123X", PAGE, scan)
        pdf.render(shown, faces)  # the first: fpdf2's and fontTools' imports
        wall, cpu, size = render_times(shown, faces, args.pdfs)
        rare = pdf.printed_of(facts(args.outcomes, "王堃"), shown.document, PAGE, scan)
        rare_wall, rare_cpu, rare_size = render_times(rare, faces, max(3, args.pdfs // 3))
        versions = {
            n: pdf.qr_code(cose.scan_text(PAGE, bank.issue(facts(n))[1])).version
            for n in (1, 5, 50)
        }

    print(f"certificates of {args.outcomes} outcomes; medians of {args.rounds} rounds")
    print(f"  bare Ed25519 verify      {bare:10.0f}/s  {bare_cpu * 1000:8.1f} µs CPU")
    rows = (
        ("issued (credential + QR)", issued, issued_cpu),
        ("verified: credential JSON", by_json, json_cpu),
        ("verified: QR code's text", by_qr, qr_cpu),
    )
    for label, per_s, cpu_ms in rows:
        print(f"  {label:25} {per_s:10.0f}/s  {cpu_ms * 1000:8.1f} µs CPU"
              f"  ({bare / per_s:5.1f}× a bare verify)")  # fmt: skip
    print(f"  PDF ({len(stated.outcomes)} outcomes)          {1000 / wall:10.1f}/s  "
          f"{wall:7.0f} ms wall, {cpu:5.0f} ms CPU, {size / 1024:.1f} KiB "
          f"({wall * bare / 1000:,.0f}× a bare verify)")  # fmt: skip
    print(f"  PDF with 王堃 (fallback)  {1000 / rare_wall:10.1f}/s  "
          f"{rare_wall:7.0f} ms wall, {rare_cpu:5.0f} ms CPU, "
          f"{rare_size / 1024:.1f} KiB")  # fmt: skip
    print(f"  fonts ready in {prepared_s:.1f} s; QR versions at Q (outcomes: version): {versions}")
    print(f"issued_per_s: {issued:.0f}")
    print(f"verified_json_per_s: {by_json:.0f}")
    print(f"verified_qr_per_s: {by_qr:.0f}")
    print(f"bare_verify_per_s: {bare:.0f}")
    print(f"pdf_ms_wall: {wall:.0f}")
    print(f"pdf_ms_cpu: {cpu:.0f}")
    print(f"pdf_kib: {size / 1024:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
