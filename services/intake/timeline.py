"""An application's history: every version of its data as submitted, and its timeline of events
(taken, each level's decision, returned, resubmitted, withdrawn)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from services.intake.models import (
    Application,
    ApplicationEvent,
    ApplicationVersion,
)
from shared.auth import Principal
from shared.db import utcnow


def add_version(
    session: Session,
    application: Application,
    data: dict[str, Any],
    attachments: list[str],
    principal: Principal,
) -> None:
    application.versions.append(
        ApplicationVersion(
            version=application.version,
            data=data,
            attachments=attachments,
            created_by_id=principal.staff_id,
            created_at=utcnow(),
        )
    )


def event(
    session: Session,
    application: Application,
    type_: str,
    actor_id: int | None = None,
    actor: str | None = None,
    level: str | None = None,
    reason: str | None = None,
    unit_code: str | None = None,
    unit_name: str | None = None,
) -> None:
    event = ApplicationEvent(
        at=utcnow(),
        type=type_,
        round=application.round,
        level=level,
        actor_id=actor_id,
        actor=actor,
        reason=reason,
        unit_code=unit_code,
        unit_name=unit_name,
    )
    state = inspect(application)
    if state.persistent and "events" in state.unloaded:
        # Appending would first read every earlier event (a SELECT for each decision a
        # worker applies): the event joins its application by key instead, and the
        # collection, if it is read later, is read with it.
        event.application_id = application.id
        session.add(event)
    else:
        application.events.append(event)
