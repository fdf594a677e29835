"""Times people read are China time, whatever offset the instant was written with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.clock import china_time


def test_an_instant_reads_the_same_in_china_time_whatever_its_offset() -> None:
    utc = datetime(2026, 12, 31, 17, 5, tzinfo=UTC)
    assert china_time(utc) == "2027-01-01 01:05"  # past midnight in Hangzhou: the next day
    assert china_time("2026-12-31T17:05:00+00:00") == "2027-01-01 01:05"
    assert china_time(utc.astimezone(timezone(timedelta(hours=-5)))) == "2027-01-01 01:05"


def test_a_time_without_its_offset_is_refused() -> None:
    with pytest.raises(ValueError, match="offset"):
        china_time("2026-12-31T17:05:00")
