"""JSON as it is signed (RFC 8785, the JSON Canonicalization Scheme) and as it is accepted.

Signing hashes the canonical form, so a credential may be re-indented or its keys reordered
and still verify. Accepting is stricter than ``json.loads``: a duplicate key (two parsers
could read different values), an integer beyond I-JSON's ±(2^53 - 1) (JavaScript verifiers
would round it), NaN or infinity, a lone surrogate, a string not in Unicode NFC (a name that
looks the same but is other code points), nesting deeper than a credential ever is, or more
than the size cap: each is refused, never repaired.
"""

from __future__ import annotations

import json
import math
import unicodedata
from typing import Any

import rfc8785

from services.intake.certificates.errors import CertificateError

MAX_BYTES = 256 * 1024
MAX_DEPTH = 32
MAX_SAFE_INTEGER = 2**53 - 1


def canonical(value: Any) -> bytes:
    """The RFC 8785 bytes of ``value``; ``CertificateError`` (INVALID_JSON) if it has none."""
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise CertificateError("INVALID_JSON", f"cannot be canonicalised: {exc}") from exc


def loads(text: str | bytes, max_bytes: int = MAX_BYTES) -> Any:
    """The JSON value of ``text`` (UTF-8 if bytes), refused as the module docstring says."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if len(data) > max_bytes:
        raise CertificateError("INVALID_JSON", f"larger than {max_bytes} bytes")
    try:
        value = json.loads(
            data.decode("utf-8"),
            object_pairs_hook=_object,
            parse_int=_integer,
            parse_float=_float,
            parse_constant=_constant,
        )
    except CertificateError:
        raise
    except RecursionError as exc:
        raise CertificateError("INVALID_JSON", "nested too deeply") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise CertificateError("INVALID_JSON", f"not JSON: {exc}") from exc
    _check(value, 0)
    return value


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise CertificateError("INVALID_JSON", f"duplicate key {key!r}")
        result[key] = value
    return result


def _integer(text: str) -> int:
    number = int(text)
    if abs(number) > MAX_SAFE_INTEGER:
        raise CertificateError("INVALID_JSON", f"integer {text[:20]} beyond 2^53")
    return number


def _float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise CertificateError("INVALID_JSON", "number out of range")
    return number


def _constant(text: str) -> Any:
    raise CertificateError("INVALID_JSON", f"{text} is not JSON")


def _check(value: Any, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise CertificateError("INVALID_JSON", "nested too deeply")
    if isinstance(value, str):
        _text(value)
    elif isinstance(value, list):
        for item in value:
            _check(item, depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            _text(key)
            _check(item, depth + 1)


def _text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CertificateError("INVALID_JSON", "a string holds a lone surrogate") from exc
    if not unicodedata.is_normalized("NFC", text):
        raise CertificateError("INVALID_JSON", f"text not in Unicode NFC: {text[:40]!r}")
