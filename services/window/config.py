"""The window front end's settings: shared defaults, then ``CB_*`` environment, then overrides."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.settings import Settings, load_settings

SERVICE = "window"
TITLE = "浙江省终身教育学分银行"


def settings(overrides: Mapping[str, Any] | None = None) -> Settings:
    return load_settings(SERVICE, overrides)
