"""Verify a certificate offline: from its QR payload or its credential file, with no network.

    python -m deploy.verify_certificate --keys keys.json --status revocation.json \\
        --status suspension.json 'ZJCB1:...'
    python -m deploy.verify_certificate --keys keys.json --status lists.json certificate.json
    python -m deploy.verify_certificate --keys keys.json --status lists.json \\
        'https://bank.example/v/<id>#ZJCB1:...'   # what the printed QR code holds

``--keys`` is the bank's published key list (check the key fingerprints it prints against the
bank's); each ``--status`` file is a status list credential as published, or a JSON array of
them. The verdict is printed "as of" the status lists' date: a certificate revoked after the
lists were copied still shows as it stood then. Exit status 0 for a genuine certificate, 1 for
any other verdict, 2 when the files themselves cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from services.intake.certificates import cose, jcs, verify
from services.intake.certificates.errors import CertificateError
from services.intake.certificates.keys import KeyList


def cached_lists(paths: Sequence[Path]) -> dict[str, str]:
    """Each status list credential of the files, by its URL (its ``id``)."""
    lists: dict[str, str] = {}
    for path in paths:
        value = jcs.loads(path.read_bytes(), 4 * 1024 * 1024)
        for document in value if isinstance(value, list) else [value]:
            if isinstance(document, dict) and isinstance(document.get("id"), str):
                lists[document["id"]] = json.dumps(document, ensure_ascii=False)
    return lists


def from_cache(lists: dict[str, str]) -> verify.StatusSource:
    def read(url: str) -> str:
        if url not in lists:
            raise LookupError("not among the cached status lists")
        return lists[url]

    return read


def report(verdict: verify.Verdict, keys: KeyList) -> str:
    lines = [f"verdict: {verdict.outcome.value}"]
    if verdict.status_as_of is not None:
        lines.append(f"as of {verdict.status_as_of:%Y-%m-%d %H:%M} UTC (the status lists' date)")
    else:
        lines.append("as of: no status list could be read")
    lines += [f"  - {reason.message} [{reason.code}]" for reason in verdict.reasons]
    signed = verdict.facts or verdict.claims
    if signed is not None:
        lines.append(f"certificate {signed.number}: {signed.learner_name}")
        for outcome in signed.outcomes:
            hours = "" if outcome.hours is None else f", {outcome.hours} h"
            lines.append(
                f"  {outcome.code}: {outcome.credits} credits{hours}, {outcome.achieved_on}"
            )
    if verdict.key is not None:
        lines.append(f"signed by key {verdict.key.kid_hex} (SHA-256 {verdict.key.fingerprint})")
    lines.append(
        f"key list {keys.id}: {len(keys.keys)} key(s), itself signed by {keys.signer.kid_hex}"
        f" (SHA-256 {keys.signer.fingerprint}): compare with the bank's"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=Path, required=True, help="the published key list")
    parser.add_argument("--status", type=Path, action="append", default=[], help="status lists")
    parser.add_argument("--at", help="judge at this time (ISO 8601) instead of now")
    parser.add_argument(
        "certificate",
        help="a ZJCB1: payload, a printed QR code's text (its address # the payload), "
        "or a credential file",
    )
    args = parser.parse_args(argv)
    try:
        keys = KeyList.parse(args.keys.read_bytes())
        lists = cached_lists(args.status)
    except (OSError, CertificateError) as exc:
        print(f"cannot read the keys or status lists: {exc}", file=sys.stderr)
        return 2
    scanned = cose.payload_of_scan(args.certificate)
    text: str | bytes = scanned
    if not scanned.startswith(cose.PREFIX):
        try:
            text = Path(args.certificate).read_bytes()
        except OSError as exc:
            print(f"cannot read {args.certificate}: {exc}", file=sys.stderr)
            return 2
    now = datetime.fromisoformat(args.at).astimezone(UTC) if args.at else datetime.now(UTC)
    verdict = verify.verify(text, keys, from_cache(lists), now)
    print(report(verdict, keys))
    return 0 if verdict.genuine else 1


if __name__ == "__main__":
    sys.exit(main())
