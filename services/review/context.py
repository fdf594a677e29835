"""What opening a case needs besides the session: where evidence is read, and the deadlines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path

from services.review import config
from services.review.deadlines import parse_deadlines
from shared import evidence
from shared.db import Database
from shared.levels import Level
from shared.settings import Settings


@dataclass(frozen=True)
class ReviewContext:
    evidence_store: Path
    deadlines: dict[Level, timedelta]
    remind_every: timedelta


def build_context(settings: Settings) -> ReviewContext:
    return ReviewContext(
        evidence.root(settings),
        parse_deadlines(settings.review_deadline_days),
        timedelta(hours=settings.review_reminder_hours),
    )


@cache
def worker_context() -> ReviewContext:
    """The context of a worker process, built once from its settings."""
    return build_context(config.settings())


# --- the database and the context, for the web app and for a worker process -------------

db = Database()  # the web app's: bound by create_app, one session per request


@cache
def worker_db() -> Database:
    """The database of a worker process: one session per task (``transaction()``)."""
    settings = config.settings()
    return Database(
        settings.database_url,
        pool_size=settings.worker_db_pool_size,
        max_overflow=settings.worker_db_max_overflow,
    )
