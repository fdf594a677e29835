"""The org service's process-wide objects, bound to an app by ``create_app``."""

from __future__ import annotations

from flask import current_app

from services.org.context import OrgContext
from shared.db import Database

db = Database()


def context() -> OrgContext:
    return current_app.extensions["org_ctx"]  # type: ignore[no-any-return]
