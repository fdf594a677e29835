"""Org's periodic task, called directly and through a real worker on the org queue."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from services.org import tasks
from services.org.context import db
from services.org.models import RefreshToken, TokenFamily
from shared.db import utcnow
from tests.factories import World
from tests.helpers import running_worker, wait_for


def make_tokens(world: World) -> None:
    world.staff("S001", ["reviewer"], "gina")
    for _ in range(3):
        world.login("gina")
    with db.transaction() as session:
        rows = session.scalars(select(RefreshToken).order_by(RefreshToken.id)).all()
        rows[0].expires_at = utcnow() - timedelta(days=2)
        signed_out = session.get(TokenFamily, rows[1].family_id)
        assert signed_out is not None
        signed_out.revoked_at = rows[1].revoked_at = utcnow() - timedelta(days=3)
        # Spent long ago by a rotation, its sign-in alive: kept, so its reuse is recognised.
        rows[2].revoked_at = utcnow() - timedelta(days=3)


def remaining(model: type = RefreshToken) -> int:
    with db.transaction() as session:
        return len(session.scalars(select(model.id)).all())


def test_purge_called_directly(world: World) -> None:
    make_tokens(world)
    assert tasks.purge_refresh_tokens() == 2
    assert remaining() == 2  # staff() signed in once more
    assert remaining(TokenFamily) == 2  # the sign-ins left without tokens go with them


@pytest.mark.integration
def test_purge_through_the_org_worker(world: World) -> None:
    from services.org.worker import celery

    make_tokens(world)
    with running_worker(celery, ["org"]):
        celery.send_task("org.purge_refresh_tokens")
        wait_for(lambda: remaining() == 2)
