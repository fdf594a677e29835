"""What every service's OpenAPI document says of the answers it shares (``shared.web.ServiceApi``).

- Errors are problem details (``shared.errors``) in ``application/problem+json``: the shared
  error responses (``DEFAULT_ERROR``, ``UNPROCESSABLE_ENTITY``, ...) say so.
"""

from __future__ import annotations

import http
from typing import Any

from apispec import APISpec
from flask_smorest.utils import prepare_response

from shared.errors import PROBLEM_JSON


def register_problem_responses(spec: APISpec, error_schema: Any, default_name: str) -> None:
    """flask-smorest's lazily registered responses (one per status, and the default error),
    in the media type the problems are answered in."""
    for status in http.HTTPStatus:
        response: dict[str, Any] = {"description": status.phrase}
        if not 100 <= status < 200 and status not in (204, 304):
            response["schema"] = error_schema
        prepare_response(response, spec, PROBLEM_JSON)
        spec.components.response(status.name, response, lazy=True)
    response = {"description": "Default error response", "schema": error_schema}
    prepare_response(response, spec, PROBLEM_JSON)
    spec.components.response(default_name, response, lazy=True)
