"""The notify service's settings: shared defaults, then ``CB_*`` environment, then overrides."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.settings import Settings, load_settings

SERVICE = "notify"
TITLE = "Credit bank notify service"
DESCRIPTION = "Delivery of notifications to learners, staff and front ends."


def settings(overrides: Mapping[str, Any] | None = None) -> Settings:
    return load_settings(SERVICE, overrides)
