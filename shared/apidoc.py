"""What every service's OpenAPI document says of the answers it shares (``shared.web.ServiceApi``).

- Errors are problem details (``shared.errors``) in ``application/problem+json``: the shared
  error responses (``DEFAULT_ERROR``, ``UNPROCESSABLE_ENTITY``, ...) and every 4xx response a
  view documents with a description only say so.
- The statuses any operation may answer for reasons shared by all of them are documented on
  each, by number (``default`` says nothing of which): 401 and 403 where a token is needed
  (none, not valid, a deactivated account or a suspended point, a role or a scope lacking),
  404 where the path names something, and 400 (not JSON), 413 (too large) and 422 (not its
  schema) where there is a request body.
- A ``Decimal(as_string=True)`` is a string of format decimal, as it is answered.
"""

from __future__ import annotations

import http
from typing import Any

from apispec import APISpec, BasePlugin
from flask_smorest.utils import prepare_response
from marshmallow import fields

from shared.errors import PROBLEM_JSON

PROBLEM_SCHEMA = "Problem"  # the component flask-smorest registers for ``ServiceApi.ERROR_SCHEMA``


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


class SharedResponses(BasePlugin):  # type: ignore[misc]
    """Adds the statuses every operation of its kind answers, and the problem body of the
    4xx responses documented with a description only."""

    def operation_helper(
        self, path: str | None = None, operations: dict[str, Any] | None = None, **_: Any
    ) -> None:
        for operation in (operations or {}).values():
            responses = operation.setdefault("responses", {})
            shared: list[int] = []
            if operation.get("security"):
                shared += [401, 403]
            if path and "{" in path:
                shared.append(404)
            if "requestBody" in operation:
                shared += [400, 413, 422]
            documented = {str(status) for status in responses}  # int keys from the views
            for status in shared:
                if str(status) not in documented:
                    responses[str(status)] = http.HTTPStatus(status).name
            for status, response in responses.items():
                if str(status).startswith("4") and isinstance(response, dict):
                    response.setdefault("content", {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}})


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
