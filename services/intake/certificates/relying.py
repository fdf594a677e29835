"""Certificates that state a posting later reversed: suspended at once, with the reason, for
the issuing level to revoke or to lift (a reversal never edits a certificate either)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.intake.certificates.models import Certificate, CertificateEntry, CertificateStatus
from services.intake.conversion import audit
from shared.auth import Principal
from shared.db import utcnow


def suspend(session: Session, principal: Principal, entry_ids: Iterable[int], reason: str) -> int:
    """Suspend every valid certificate stating one of ``entry_ids``; how many were."""
    found = session.scalars(
        select(Certificate)
        .join(CertificateEntry, CertificateEntry.certificate_id == Certificate.id)
        .where(
            CertificateEntry.ledger_entry_id.in_(list(entry_ids)),
            Certificate.status == CertificateStatus.VALID,
        )
        .with_for_update(of=Certificate)
    ).all()
    for certificate in found:
        certificate.status = CertificateStatus.SUSPENDED
        certificate.status_reason = reason[:500]
        certificate.status_by, certificate.status_at = principal.username, utcnow()
        audit.record(
            session,
            principal,
            "certificate.suspended",
            certificate.number,
            {"reason": reason, "automatic": True},
        )
    return len(found)
