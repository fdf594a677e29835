"""How a channel fails, and the one HTTP POST the SMS gateway and webhooks share.

Every channel raises ``TransientError`` (worth trying again later) or ``PermanentError``
(not worth it); ``services.notify.delivery`` decides retries from that alone.
"""

from __future__ import annotations

import urllib.error
import urllib.request


class TransientError(Exception):
    """Worth trying again later: a timeout, a refused connection, a 5xx or 429."""


class PermanentError(Exception):
    """Not worth trying again: an invalid address, a 4xx."""


def post(url: str, body: bytes, headers: dict[str, str], timeout: float, what: str) -> None:
    """POST ``body`` to an http(s) ``url`` (checked by the caller's configuration or
    registration); 2xx is done, 5xx/429/unreachable transient, any other answer permanent."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout):  # noqa: S310
            return
    except urllib.error.HTTPError as exc:
        if exc.code >= 500 or exc.code == 429:
            raise TransientError(f"{what} answered {exc.code}") from None
        raise PermanentError(f"{what} refused it: {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise TransientError(f"{what} unreachable: {getattr(exc, 'reason', exc)}") from None
