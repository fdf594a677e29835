"""Org's periodic housekeeping, run by the org worker on the ``org`` queue."""

from __future__ import annotations

import redis
from celery import shared_task

from services.org import accounts, config, families
from services.org.context import worker_db
from shared.revocations import Revocations


@shared_task(name="org.purge_refresh_tokens")
def purge_refresh_tokens() -> int:
    """Delete refresh tokens that can never be used or recognised again (``families.purge``)."""
    with worker_db().transaction() as session:
        return families.purge(session)


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
