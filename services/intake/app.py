"""The intake service's app factory: ``create_app(overrides=None)`` (served by gunicorn)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from services.intake import api, config
from services.intake.assessment import api as assessment_api
from services.intake.certificates import api as certificates_api
from services.intake.context import build_context, db
from services.intake.conversion import api as conversion_api
from services.intake.imports import api as imports_api
from services.intake.outcomes import OUTCOME_SCHEMAS, component_name
from shared.web import create_service_app

__all__ = ["create_app", "db"]
UPLOAD_SLACK = 64 * 1024  # multipart framing around the file itself
# A conversion standard's rules come whole in one body: 10,000 rules (the most a version
# holds) are about 2.3 MiB of JSON, so its two endpoints take up to 8 MiB.
STANDARD_BODY_BYTES = 8 * 1024 * 1024


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    settings = config.settings(overrides)
    blueprints = [
        api.blp,
        imports_api.blp,
        assessment_api.blp,
        conversion_api.blp,
        certificates_api.blp,
    ]
    # JSON bodies stay under max_body_bytes but a standard's rule set; evidence and import
    # uploads carry a file.
    body_limits = {
        "intake.upload_attachment": settings.max_attachment_bytes + UPLOAD_SLACK,
        "imports.post_import": settings.max_import_bytes + UPLOAD_SLACK,
        "conversion.create_standard": STANDARD_BODY_BYTES,  # POST /conversion-standards
        "conversion.VersionView": STANDARD_BODY_BYTES,  # PUT .../versions/{n} (GET: no body)
    }
    app = create_service_app(
        config.SERVICE, settings, db, blueprints, config.TITLE, config.DESCRIPTION, body_limits
    )
    for kind, schema in OUTCOME_SCHEMAS.items():  # what DepositIn.outcome documents
        app.extensions["cb_api"].spec.components.schema(component_name(kind), schema=schema)
    app.extensions["cb_context"] = build_context(settings)
    assessment_api.init_app(app, settings)
    return app
