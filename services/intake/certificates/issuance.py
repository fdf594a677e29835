"""A certificate issued on its application's final approval, once, whatever redelivery
happens (its application holds one certificate: a unique key; the decision itself is
applied once): what the application stated, the learner's name, a salted hash of their
document number (never the number), the point that took it and every level that approved
it, signed as a verifiable credential and as an offline QR payload. Both hold the name, so
both are stored encrypted. The learner is told with the link to its verification page."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.intake import posting
from services.intake.certificates import cose, credential, status_list
from services.intake.certificates.applications import stated_entry
from services.intake.certificates.bank import Bank
from services.intake.certificates.models import (
    NUMBER_SEQ,
    Certificate,
    CertificateEntry,
)
from services.intake.models import (
    Application,
    ApplicationEvent,
    ApplicationVersion,
    Learner,
)
from shared.clock import CHINA
from shared.db import utcnow
from shared.levels import Level

CODE = re.compile(r"^[A-Za-z0-9._-]{1,40}$")
STEPS = ("passed_up", "approved")


def issue(session: Session, bank: Bank, cipher: Any, application: Application) -> Certificate:
    """The certificate of an approved certificate application (the one already issued, if
    there is one)."""
    found = session.scalar(select(Certificate).where(Certificate.application_id == application.id))
    if found is not None:
        return found
    data = session.scalars(
        select(ApplicationVersion.data).where(
            ApplicationVersion.application_id == application.id,
            ApplicationVersion.version == application.version,
        )
    ).one()
    learner = session.get_one(Learner, application.learner_id)
    now = utcnow().replace(microsecond=0)
    accepted, approvals = review_chain(session, application)
    entries = _with_consumed(session, data["entries"])
    codes = {e["entry_id"]: _code(e) for e in entries}
    salt = credential.new_salt()
    number = f"ZJC{now.astimezone(CHINA).year}{session.scalar(NUMBER_SEQ.next_value()):07d}"
    issuing = approvals[-1]
    used = set(session.scalars(select(Certificate.status_index)))
    facts = credential.Facts(
        number=number,
        issued_at=now,
        valid_from=now,
        valid_until=_until(now, bank.valid_years),
        learner_name=cipher.decrypt(learner.name_enc, "learner.name"),
        id_hash=credential.hash_identity(
            cipher.decrypt(learner.document_enc, "learner.document_number"), salt
        ),
        id_salt=salt,
        unit_code=issuing.unit_code,
        unit_name=issuing.unit_name,
        accepted=accepted,
        approvals=approvals,
        outcomes=tuple(
            credential.Outcome(
                code=codes[e["entry_id"]],
                kind=e["outcome_kind"],
                title=e["title"],
                credits=Decimal(e["credits"]),
                achieved_on=date.fromisoformat(e["on"]) if e["on"] else now.date(),
                hours=Decimal(e["hours"]) or None,
            )
            for e in entries
            if e["entry_kind"] != "conversion"
        ),
        status_index=status_list.pick_index(used),
        revocation_list=bank.addresses.status_list("revocation"),
        suspension_list=bank.addresses.status_list("suspension"),
        conversions=tuple(
            credential.Conversion(
                code=codes[e["entry_id"]],
                title=e["title"],
                target="".join(
                    part for part in (e["target"]["institution"], e["target"]["programme"]) if part
                ),
                credits=Decimal(e["credits"]),
                decided_on=date.fromisoformat(e["on"]),
                outcomes=tuple(codes[i] for i in e["consumed"]),
            )
            for e in entries
            if e["entry_kind"] == "conversion"
        ),
    )
    key = bank.ring.current(now)
    document = credential.sign(
        facts, bank.issuer, key.private_key, key.method_id(bank.addresses.key_list)
    )
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    payload = cose.encode(
        cose.claims_of(facts, bank.addresses.issuer), key.private_key, key.info.kid
    )
    certificate = Certificate(
        number=number,
        application_id=application.id,
        account_id=application.account_id,
        unit_path=application.unit_path,
        issuing_unit_code=issuing.unit_code,
        issuing_unit_path=_path_of(application.unit_path, issuing.unit_code),
        status_index=facts.status_index,
        kid=key.info.kid_hex,
        credential_enc=cipher.encrypt(text, "certificate.credential"),
        payload_enc=cipher.encrypt(payload, "certificate.payload"),
        credential_sha256=hashlib.sha256(text.encode()).hexdigest(),
        issued_at=now,
        valid_until=facts.valid_until,
    )
    session.add(certificate)
    session.flush()
    for entry_id in codes:
        session.add(CertificateEntry(certificate_id=certificate.id, ledger_entry_id=entry_id))
    session.flush()
    return certificate


def review_chain(
    session: Session, application: Application
) -> tuple[credential.ReviewStep, tuple[credential.ReviewStep, ...]]:
    """The point that took the application, and each level that approved its last round."""
    events = session.scalars(
        select(ApplicationEvent)
        .where(ApplicationEvent.application_id == application.id)
        .order_by(ApplicationEvent.at, ApplicationEvent.id)
    ).all()
    taken = events[0]
    accepted = credential.ReviewStep(
        Level.ACCEPTANCE_POINT.value,
        application.unit_code,
        taken.unit_name or application.unit_code,
        taken.at.astimezone(CHINA).date(),
    )
    approvals = tuple(
        credential.ReviewStep(
            e.level or "",
            e.unit_code or _unit_at(application.unit_path, e.level or ""),
            e.unit_name or e.unit_code or _unit_at(application.unit_path, e.level or ""),
            e.at.astimezone(CHINA).date(),
        )
        for e in events
        if e.type in STEPS and e.round == application.round
    )
    return accepted, approvals


def _unit_at(point_path: str, level: str) -> str:
    """The unit of ``level`` above a point, from its path (/ZJ/B01/S001/AP000001/)."""
    codes = point_path.strip("/").split("/")
    prefix = {"acceptance_point": "AP", "subcentre": "S", "branch": "B", "province": "ZJ"}[level]
    return next(c for c in reversed(codes) if c.startswith(prefix))


def _path_of(point_path: str, unit_code: str) -> str:
    codes = point_path.strip("/").split("/")
    return "/" + "/".join(codes[: codes.index(unit_code) + 1]) + "/"


def _with_consumed(session: Session, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stated entries, each conversion with the outcomes it consumed (those not stated
    themselves added: a conversion's credits stand on them)."""
    stated = {e["entry_id"] for e in entries}
    result = []
    for entry in entries:
        if entry["entry_kind"] != "conversion":
            result.append(entry)
            continue
        posted = posting.entry(session, entry["entry_id"])
        consumed = [o["entry_id"] for o in (posted.basis or {}).get("outcomes", [])]
        for entry_id in consumed:
            if entry_id not in stated:
                result.append(stated_entry(session, posting.entry(session, entry_id)))
                stated.add(entry_id)
        result.append({**entry, "consumed": consumed})
    return result


def _code(entry: dict[str, Any]) -> str:
    """An entry's code on the certificate: its catalogue or course code with the entry's
    number (each unique on the certificate, each telling what it is), else the number."""
    code = entry.get("code") or ""
    number = f"E{entry['entry_id']}"
    return f"{code}.{number}" if code and CODE.match(code) else number


def _until(now: datetime, years: int) -> datetime | None:
    return now + timedelta(days=round(365.25 * years)) if years else None
