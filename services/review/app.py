"""The review service's app factory: ``create_app(overrides=None)`` (served by gunicorn)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from services.review import config
from services.review.api import blp
from services.review.context import db
from shared.web import create_service_app

__all__ = ["create_app", "db"]


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    settings = config.settings(overrides)
    return create_service_app(config.SERVICE, settings, db, [blp], config.TITLE, config.DESCRIPTION)
