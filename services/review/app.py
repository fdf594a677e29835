"""The review service's app factory: ``create_app(config=None)`` (served by gunicorn)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from services.review import config
from shared.db import Database
from shared.web import create_service_app

db = Database()


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    settings = config.settings(overrides)
    return create_service_app(config.SERVICE, settings, db, [], config.TITLE, config.DESCRIPTION)
