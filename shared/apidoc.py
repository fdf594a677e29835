"""What every service's OpenAPI document says of the answers it shares (``shared.web.ServiceApi``).

- Errors are problem details (``shared.errors``) in ``application/problem+json``: the shared
  error responses (``DEFAULT_ERROR``, ``UNPROCESSABLE_ENTITY``, ...) say so.
- A ``Decimal(as_string=True)`` is a string of format decimal, as it is answered.
"""

from __future__ import annotations

import http
from typing import Any

from apispec import APISpec
from flask_smorest.utils import prepare_response
from marshmallow import fields

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


def decimal_as_string(converter: Any, field: fields.Field, ret: dict[str, Any], **_: Any) -> Any:
    """An apispec attribute function. apispec documents every ``Decimal`` as a number, its
    range dumped by the field: a ``Decimal(as_string=True)`` is answered (and may be sent) as
    ``"12.50"``, so it is a string of format decimal, its range kept as ``x-minimum`` and
    ``x-maximum`` (a range of strings under ``minimum`` is not JSON Schema)."""
    if isinstance(field, fields.Decimal) and field.as_string:
        kind = ret.get("type")
        if isinstance(kind, list):
            ret["type"] = ["string" if t == "number" else t for t in kind]
        else:
            ret["type"] = "string"
        ret.setdefault("format", "decimal")
        for key in ("minimum", "maximum"):
            if key in ret:
                ret[f"x-{key}"] = ret.pop(key)
    return {}
