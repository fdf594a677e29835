"""The org service's app factory: ``create_app(overrides=None)`` (served by gunicorn)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from services.org import cli, config
from services.org.api import blp
from services.org.context import build_context, db
from shared.web import create_service_app


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    settings = config.settings(overrides)
    app = create_service_app(config.SERVICE, settings, db, [blp], config.TITLE, config.DESCRIPTION)
    app.extensions["cb_context"] = build_context(settings)
    app.cli.add_command(cli.org_cli)
    return app
