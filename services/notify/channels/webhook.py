"""Webhooks: an event POSTed as JSON to a front end's HTTPS endpoint, signed.

Signature scheme (v1), for receivers:

    X-CreditBank-Timestamp: 1764230400              (Unix seconds when sent)
    X-CreditBank-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
    X-CreditBank-Delivery:  <delivery id>           (the same on every retry: drop repeats)

A receiver recomputes the HMAC over the timestamp, a dot and the raw body bytes with the
secret it was given at registration, compares in constant time, and refuses a timestamp more
than five minutes away from its clock (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from services.notify.channels import failures

SCHEME = "v1"
TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{SCHEME}={mac.hexdigest()}"


def verify(secret: str, timestamp: str, body: bytes, header: str, now: float | None = None) -> bool:
    """What a receiver does (used by the tests' receiver, and documented for front ends)."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs((now or time.time()) - sent) > TOLERANCE_SECONDS:
        return False
    return hmac.compare_digest(signature(secret, sent, body), header)


def body_of(event_id: str, event_type: str, occurred_at: str, unit_code: str, data: Any) -> bytes:
    payload = {
        "event_id": event_id,
        "event_type": event_type,
        "occurred_at": occurred_at,
        "unit_code": unit_code,
        "data": data,
    }
    return json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()


def post(url: str, secret: str, body: bytes, delivery_id: str, timeout: float) -> None:
    """Send one signed delivery; 2xx is delivered, 5xx/429/unreachable transient, 4xx not."""
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "X-CreditBank-Timestamp": str(timestamp),
        "X-CreditBank-Signature": signature(secret, timestamp, body),
        "X-CreditBank-Delivery": delivery_id,
    }
    failures.post(url, body, headers, timeout, "the webhook")
