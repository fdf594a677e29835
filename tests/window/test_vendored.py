"""The front end's vendored assets are exactly the files recorded, and htmx is 2.0.x: htmx 4
no longer passes ``hx-headers`` down from <body>, which would drop the CSRF header silently."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

VENDOR = Path(__file__).resolve().parents[2] / "services" / "window" / "static" / "vendor"


def test_every_vendored_file_matches_its_recorded_sha256() -> None:
    record = (VENDOR / "VENDORED.md").read_text()
    listed = dict(re.findall(r"\| `([^`]+)` \|[^|]*\|[^|]*\| ([0-9a-f]{64}) \|", record))
    shipped = {p.name for p in VENDOR.iterdir() if p.suffix in (".js", ".css")}
    assert listed and set(listed) == shipped
    for name, sha in listed.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == sha, name


def test_htmx_is_the_pinned_2_0_release() -> None:
    (script,) = VENDOR.glob("htmx-*.min.js")
    assert re.search(r'version:"2\.0\.11"', script.read_text())
