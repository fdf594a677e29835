"""Org's periodic housekeeping, run by the org worker on the ``org`` queue."""

from __future__ import annotations

from datetime import timedelta

import redis
from celery import shared_task
from sqlalchemy import delete, select

from services.org import accounts, config
from services.org.context import worker_db
from services.org.models import RefreshToken, TokenFamily
from shared.db import utcnow
from shared.revocations import Revocations


@shared_task(name="org.purge_refresh_tokens")
def purge_refresh_tokens() -> int:
    """Delete refresh tokens that expired, or whose sign-in was revoked, more than a day ago,
    then the sign-ins left without any. A token merely spent is kept until it expires: its
    reuse must be recognised as long as it would have worked."""
    cutoff = utcnow() - timedelta(days=1)
    dead = select(TokenFamily.id).where(TokenFamily.revoked_at < cutoff)
    with worker_db().transaction() as session:
        result = session.execute(
            delete(RefreshToken).where(
                (RefreshToken.expires_at < cutoff) | RefreshToken.family_id.in_(dead)
            )
        )
        held = select(RefreshToken.id).where(RefreshToken.family_id == TokenFamily.id)
        session.execute(delete(TokenFamily).where(~held.exists()))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


@shared_task(name="org.sync_revocations")
def sync_revocations() -> int:
    """Re-publish every point's state, and recently deactivated accounts and revoked
    sign-ins, to the shared list."""
    settings = config.settings()
    with worker_db().transaction() as session:
        facts = accounts.revocation_facts(session, settings.access_token_ttl)
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=5)
    Revocations(client, settings.access_token_ttl).publish_all(
        facts.deactivated_staff, facts.point_states, facts.revoked_families
    )
    return len(facts.point_states) + len(facts.deactivated_staff) + len(facts.revoked_families)
