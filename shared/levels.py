"""The levels of the org tree, which are the levels of review: an application climbs them
from the acceptance point that took it, one queue each (``review.<level>``)."""

from __future__ import annotations

import enum


class Level(enum.StrEnum):
    """In the order an application climbs them."""

    ACCEPTANCE_POINT = "acceptance_point"  # 受理点
    SUBCENTRE = "subcentre"  # 分中心 (county)
    BRANCH = "branch"  # 分部 (city)
    PROVINCE = "province"  # 省中心


LEVEL_ORDER = tuple(Level)
FIRST_LEVEL = Level.ACCEPTANCE_POINT


def review_queue(level: str) -> str:
    """The queue of a review level: where its cases are opened (``review.subcentre``)."""
    return f"review.{Level(level).value}"
