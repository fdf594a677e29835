"""The certificate signing keys (var/keys/certificates/, or CB_CERTIFICATE_KEYS_DIR):

    python -m deploy.certificate_keys list      # every key, its window and fingerprint
    python -m deploy.certificate_keys rotate    # a new current key; the others retired, kept

A rotation keeps every earlier key in the published key list with its window, so a
certificate signed before still verifies, and nothing is signed with a retired key again.
Run it on one machine and copy the directory to every intake process (web and worker)."""

from __future__ import annotations

import argparse

from services.intake import config
from services.intake.certificates.bank import certificate_keys_dir
from services.intake.certificates.keys import KeyRing
from shared.db import utcnow


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("list", "rotate"))
    args = parser.parse_args(argv)
    ring = KeyRing(certificate_keys_dir(config.settings()))
    if args.action == "rotate":
        key = ring.rotate(utcnow())
        print(f"rotated: the current key is now {key.info.kid_hex}")
    for key in ring.signing_keys():
        info = key.info
        print(
            f"{info.kid_hex}  from {info.not_before:%Y-%m-%d %H:%M}  "
            f"until {info.ends:%Y-%m-%d %H:%M}  " if info.ends else
            f"{info.kid_hex}  from {info.not_before:%Y-%m-%d %H:%M}  current  ",
            f"sha256 {info.fingerprint}",
        )  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
