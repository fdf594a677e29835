"""Per-channel rate limits shared by every notify worker: a fixed one-second window counted
in Redis. Over the limit, a delivery waits for the next window (rescheduled in the database,
no attempt spent), so a burst in assessment season stays inside a gateway's limits."""

from __future__ import annotations

import time

import redis


def parse_limits(spec: str) -> dict[str, int]:
    """``"sms=20,webhook=50"``: messages per second per channel; unnamed channels: no limit."""
    limits = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, value = part.partition("=")
        if not value.strip().isdigit() or int(value) < 1:
            raise ValueError(f"notify_rate_limits: {part!r} is not channel=<messages per second>")
        limits[name.strip()] = int(value)
    return limits


class RateLimiter:
    def __init__(
        self, client: redis.Redis, limits: dict[str, int], prefix: str = "notify:rate"
    ) -> None:
        self.client, self.limits, self.prefix = client, limits, prefix

    def wait_for(self, channel: str) -> float:
        """0 if a message may go now (and counts it), else the seconds until the next window."""
        limit = self.limits.get(channel)
        if limit is None:
            return 0.0
        now = time.time()
        window = int(now)
        key = f"{self.prefix}:{channel}:{window}"
        pipe = self.client.pipeline()
        pipe.incr(key)
        pipe.expire(key, 5)
        count = int(pipe.execute()[0])
        return 0.0 if count <= limit else (window + 1) - now
