"""The org service's settings: shared defaults, then ``CB_*`` environment, then overrides."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.settings import Settings, load_settings

SERVICE = "org"
TITLE = "Credit bank org service"
DESCRIPTION = (
    "The organisation tree of the Zhejiang Lifelong Education Credit Bank (provincial centre, "
    "11 city branches, 92 county sub-centres, acceptance points), staff accounts and sign-in, "
    "and the life cycle that brings an acceptance point into service."
)


def settings(overrides: Mapping[str, Any] | None = None) -> Settings:
    return load_settings(SERVICE, overrides)
