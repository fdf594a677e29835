"""The database of a notify worker process (one session per task via ``transaction()``)."""

from __future__ import annotations

from functools import cache

from services.notify import config
from shared.db import Database


@cache
def worker_db() -> Database:
    return Database(config.settings().database_url)
