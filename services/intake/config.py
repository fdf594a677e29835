"""The intake service's settings: shared defaults, then ``CB_*`` environment, then overrides."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.settings import Settings, load_settings

SERVICE = "intake"
TITLE = "Credit bank intake service"
DESCRIPTION = (
    "The service window's back end: learning accounts, identity, applications and evidence."
)


def settings(overrides: Mapping[str, Any] | None = None) -> Settings:
    return load_settings(SERVICE, overrides)
