"""Per-channel rate limits shared by every notify worker: a fixed one-second window counted
in Redis. Over the limit, a delivery waits for the next window (rescheduled in the database,
no attempt spent), so a burst in assessment season stays inside a gateway's limits."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence

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
        return self.admit([channel])[0]

    def admit(self, channels: Sequence[str]) -> list[float]:
        """``wait_for`` for each message of a batch, in order, in one round trip: a channel's
        count goes up by its messages at once (one INCRBY: no other worker counts in between),
        and the first of them that still fit under the limit may go, as they would have one
        by one."""
        wanted = Counter(channel for channel in channels if channel in self.limits)
        if not wanted:
            return [0.0] * len(channels)
        now = time.time()
        window = int(now)
        pipe = self.client.pipeline(transaction=False)  # each INCRBY is atomic by itself
        for channel, n in wanted.items():
            key = f"{self.prefix}:{channel}:{window}"
            pipe.incrby(key, n)
            pipe.expire(key, 5)
        counts = pipe.execute()[::2]
        # Room left in the window before this batch was counted.
        room = {
            channel: self.limits[channel] - (int(count) - wanted[channel])
            for channel, count in zip(wanted, counts, strict=True)
        }
        waits = []
        for channel in channels:
            if channel not in room:
                waits.append(0.0)
                continue
            room[channel] -= 1
            waits.append(0.0 if room[channel] >= 0 else (window + 1) - now)
        return waits
