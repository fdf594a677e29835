"""Org's periodic housekeeping, run by the org worker on the ``org`` queue."""

from __future__ import annotations

from datetime import timedelta

import redis
from celery import shared_task
from sqlalchemy import delete

from services.org import accounts, config
from services.org.models import RefreshToken
from services.org.worker_db import worker_db
from shared.db import utcnow
from shared.revocations import Revocations


@shared_task(name="org.purge_refresh_tokens")
def purge_refresh_tokens() -> int:
    """Delete refresh tokens that expired or were spent more than a day ago."""
    cutoff = utcnow() - timedelta(days=1)
    with worker_db().transaction() as session:
        result = session.execute(
            delete(RefreshToken).where(
                (RefreshToken.expires_at < cutoff) | (RefreshToken.revoked_at < cutoff)
            )
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


@shared_task(name="org.sync_revocations")
def sync_revocations() -> int:
    """Re-publish suspended points and recently deactivated accounts to the shared list."""
    settings = config.settings()
    with worker_db().transaction() as session:
        units, staff = accounts.revocation_facts(session, settings.access_token_ttl)
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=5)
    Revocations(client, settings.access_token_ttl).publish_all(staff, units)
    return len(units) + len(staff)
