"""Time as people in Zhejiang read it: every time shown to a person (an SMS, an e-mail, a
page, an export) is China time; the APIs and the databases keep instants in UTC."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

CHINA = ZoneInfo("Asia/Shanghai")


def china_time(value: datetime | str) -> str:
    """``2026-12-01 15:32``: an aware instant (or its ISO 8601 text) in China time, to the
    minute, as a township clerk or a learner reads it."""
    instant = datetime.fromisoformat(value) if isinstance(value, str) else value
    if instant.tzinfo is None:
        raise ValueError(f"a time without its offset cannot be shown: {value!r}")
    return instant.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")
