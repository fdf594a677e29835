"""The window's own static files, addressed by their content: ``url_for('static', ...)``
adds ``v=<first 12 hex of the file's SHA-256>``, and a request naming the current version is
cached by the browser for a year (``immutable``): a page costs no conditional requests for
its CSS and script. A new release changes the files, so their addresses, so every browser
fetches them again; an address naming another version is served ``no-cache``.

Static requests never open the person's session (no Redis read or write, no cookie)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from flask import Flask, Response, request

YEAR = 365 * 24 * 3600


def init_app(app: Flask) -> None:
    folder = Path(app.static_folder or "")

    def digest(filename: str) -> str | None:
        path = (folder / filename).resolve()
        if folder.resolve() not in path.parents or not path.is_file():
            return None
        return hashlib.sha256(path.read_bytes()).hexdigest()[:12]

    # Read once per process, except in development, where files change under a server.
    version: Callable[[str], str | None] = (
        digest if app.config.get("TEMPLATES_AUTO_RELOAD") else cache(digest)
    )

    @app.url_defaults
    def _versioned(endpoint: str, values: dict[str, Any]) -> None:
        if endpoint == "static" and "v" not in values:
            found = version(values.get("filename", ""))
            if found:
                values["v"] = found

    @app.after_request
    def _cached(response: Response) -> Response:
        if request.endpoint == "static" and response.status_code == 200:
            named = request.args.get("v")
            current = version(request.view_args.get("filename", "") if request.view_args else "")
            if named and named == current:
                response.headers["Cache-Control"] = f"public, max-age={YEAR}, immutable"
            else:
                response.headers["Cache-Control"] = "no-cache"
        return response
