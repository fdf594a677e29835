"""``Idempotency-Key``: a retried request gets the first answer, never a second application.

The key is remembered per staff account, with a hash of the endpoint and body, in the same
transaction as the application itself; the same key with a different body is refused (422).
"""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.intake.models import IdempotencyKey
from shared.errors import FieldError, ValidationProblem
from shared.pii import PiiCipher

HEADER = "Idempotency-Key"
MAX_KEY = 200
VISIBLE_ASCII = re.compile(r"^[\x21-\x7e]+$")


def request_digest(cipher: PiiCipher, endpoint: str, body: Any) -> str:
    """A keyed hash of the request: its body holds personal data, so no plain SHA-256."""
    canonical = json.dumps({"endpoint": endpoint, "body": body}, sort_keys=True, default=str)
    return cipher.lookup_hash("idempotency", canonical)


def check_key(key: str) -> str:
    key = key.strip()
    if not 1 <= len(key) <= MAX_KEY or not VISIBLE_ASCII.match(key):
        raise ValidationProblem(
            "the idempotency key is not valid",
            [FieldError(HEADER, f"must be 1 to {MAX_KEY} visible ASCII characters", "headers")],
        )
    return key


def replay(
    session: Session, staff_id: int, key: str, digest: str
) -> tuple[int, dict[str, Any]] | None:
    """The remembered answer for this key, or None if the key is new."""
    row = session.scalar(
        select(IdempotencyKey).where(IdempotencyKey.staff_id == staff_id, IdempotencyKey.key == key)
    )
    if row is None:
        return None
    if row.request_hash != digest:
        raise ValidationProblem(
            "this idempotency key was used with a different request",
            [FieldError(HEADER, "already used for a different request; use a new key", "headers")],
        )
    return row.status_code, row.response


def remember(
    session: Session,
    staff_id: int,
    key: str,
    endpoint: str,
    digest: str,
    status: int,
    response: dict[str, Any],
) -> None:
    session.add(
        IdempotencyKey(
            staff_id=staff_id,
            key=key,
            endpoint=endpoint,
            request_hash=digest,
            status_code=status,
            response=response,
        )
    )
