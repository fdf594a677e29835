"""The review service's settings: shared defaults, then ``CB_*`` environment, then overrides."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.settings import Settings, load_settings

SERVICE = "review"
TITLE = "Credit bank review service"
DESCRIPTION = (
    "Tiered review: acceptance point, sub-centre, branch, provincial centre; one queue per level."
)


def settings(overrides: Mapping[str, Any] | None = None) -> Settings:
    return load_settings(SERVICE, overrides)
