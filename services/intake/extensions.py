"""The intake service's process-wide objects, bound to an app by ``create_app``."""

from __future__ import annotations

from flask import current_app

from services.intake.context import IntakeContext
from shared.db import Database

db = Database()


def context() -> IntakeContext:
    return current_app.extensions["intake_ctx"]  # type: ignore[no-any-return]
