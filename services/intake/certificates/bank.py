"""The bank as a certificate issuer: its public addresses (all under the window's public
URL, where the verification pages and the published lists are served), its signing keys
(``var/keys/certificates/``: not the personal-data key, not the token key), and what it
publishes — the key list and the two status lists, each signed."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.intake.certificates import credential, status_list
from services.intake.certificates.keys import KeyList, KeyRing
from services.intake.certificates.models import Certificate, CertificateStatus
from shared.settings import Settings

PURPOSES = {"revocation": CertificateStatus.REVOKED, "suspension": CertificateStatus.SUSPENDED}


@dataclass(frozen=True)
class Addresses:
    base: str

    @property
    def issuer(self) -> str:
        return f"{self.base}/issuer"

    @property
    def key_list(self) -> str:
        return f"{self.base}/certificates/keys.json"

    def status_list(self, purpose: str) -> str:
        return f"{self.base}/certificates/status/{purpose}"

    def page(self, certificate_id: uuid.UUID) -> str:
        """The verification page a certificate's QR code opens."""
        return f"{self.base}/v/{certificate_id}"


class Bank:
    def __init__(self, settings: Settings) -> None:
        self.addresses = Addresses(settings.window_public_url.rstrip("/"))
        self.ring = KeyRing(certificate_keys_dir(settings))
        self.valid_years = settings.certificate_valid_years

    @property
    def issuer(self) -> credential.Issuer:
        return credential.Issuer(self.addresses.issuer)

    def key_list_document(self, now: datetime) -> dict[str, object]:
        return self.ring.key_list(self.addresses.key_list, self.addresses.issuer, now)

    def key_list(self, now: datetime) -> KeyList:
        return KeyList.load(json.loads(json.dumps(self.key_list_document(now))))

    def status_document(self, session: Session, purpose: str, now: datetime) -> dict[str, object]:
        """The status list of ``purpose`` as it stands now, signed and dated now (no end:
        an offline verifier's cached copy says "as of" its date, and is not refused for it)."""
        bits = status_list.StatusList()
        for index in session.scalars(
            select(Certificate.status_index).where(Certificate.status == PURPOSES[purpose])
        ):
            bits[index] = True
        key = self.ring.current(now)
        return status_list.list_credential(
            self.addresses.status_list(purpose),
            purpose,
            bits,
            self.addresses.issuer,
            now,
            key.private_key,
            key.method_id(self.addresses.key_list),
        )

    def status_source(self, session: Session, now: datetime) -> Callable[[str], str]:
        """A verifier's way to the bank's own lists (any other address is not to be had)."""
        ours = {self.addresses.status_list(p): p for p in PURPOSES}

        def source(url: str) -> str:
            if url not in ours:
                raise LookupError(f"{url} is not a status list of this bank")
            return json.dumps(self.status_document(session, ours[url], now), ensure_ascii=False)

        return source


def certificate_keys_dir(settings: Settings) -> Path:
    return (
        Path(settings.certificate_keys_dir)
        if settings.certificate_keys_dir
        else (settings.key_dir / "certificates")
    )


def ensure_key(settings: Settings, now: datetime) -> bool:
    """A first signing key if there is none yet (bootstrap); True if one was made."""
    ring = KeyRing(certificate_keys_dir(settings))
    if ring.signing_keys():
        return False
    ring.generate(now)
    return True
