"""The review service's process-wide objects, bound to an app by ``create_app``."""

from __future__ import annotations

from shared.db import Database

db = Database()
