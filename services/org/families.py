"""Refresh-token families: one per sign-in, holding every refresh token rotated from it.

Whatever changes a family's tokens (rotation, sign-out, reuse, deactivation) takes the
family's row lock first, so a token is never rotated while its family is being revoked, and
two uses of one token are decided one after the other.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from services.org.models import RefreshToken, TokenFamily
from shared.db import utcnow


def start(session: Session, staff_id: int) -> TokenFamily:
    family = TokenFamily(id=uuid.uuid4(), staff_id=staff_id)
    session.add(family)
    session.flush()  # before its first refresh token refers to it
    return family


def locked(session: Session, token_hash: str) -> tuple[TokenFamily, RefreshToken] | None:
    """The family of the refresh token with ``token_hash``, locked, and the token as it is
    once the lock is held (None for a token not known)."""
    family_id = session.scalar(
        select(RefreshToken.family_id).where(RefreshToken.token_hash == token_hash)
    )
    if family_id is None:
        return None
    fresh = {"populate_existing": True}
    family = session.scalars(
        select(TokenFamily).where(TokenFamily.id == family_id).with_for_update(),
        execution_options=fresh,
    ).one()
    token = session.scalars(
        select(RefreshToken).where(RefreshToken.token_hash == token_hash),
        execution_options=fresh,
    ).one()
    return family, token


def revoke(session: Session, ids: Sequence[uuid.UUID], because: str) -> None:
    """Revoke the families ``ids`` (locked by the caller) and spend their refresh tokens."""
    now = utcnow()
    session.execute(
        update(TokenFamily)
        .where(TokenFamily.id.in_(ids))
        .values(revoked_at=now, revoked_because=because)
    )
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id.in_(ids), RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def revoke_all_of(session: Session, staff_id: int, because: str) -> list[str]:
    """Revoke every sign-in of an account; returns their ids."""
    ids = list(
        session.scalars(
            select(TokenFamily.id)
            .where(TokenFamily.staff_id == staff_id, TokenFamily.revoked_at.is_(None))
            .with_for_update()
        )
    )
    revoke(session, ids, because)
    return [str(i) for i in ids]


def revoked_since(session: Session, since: datetime) -> list[str]:
    ids = session.scalars(select(TokenFamily.id).where(TokenFamily.revoked_at >= since))
    return [str(i) for i in ids]


def purge(session: Session, older_than: timedelta = timedelta(days=1)) -> int:
    """Delete refresh tokens that expired, or whose sign-in was revoked, ``older_than`` ago,
    then the sign-ins left without any; return how many tokens went. A token merely spent is
    kept until it expires: its reuse must be recognised as long as it would have worked."""
    cutoff = utcnow() - older_than
    dead = select(TokenFamily.id).where(TokenFamily.revoked_at < cutoff)
    result = session.execute(
        delete(RefreshToken).where(
            (RefreshToken.expires_at < cutoff) | RefreshToken.family_id.in_(dead)
        )
    )
    held = select(RefreshToken.id).where(RefreshToken.family_id == TokenFamily.id)
    session.execute(delete(TokenFamily).where(~held.exists()))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
