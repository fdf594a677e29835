"""The review service's tables. Its business tables arrive with its own issue; the outbox is
here from the start so every service publishes only what it committed."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from shared.db import naming_metadata
from shared.outbox import OutboxMixin


class Base(DeclarativeBase):
    metadata = naming_metadata()


class Outbox(OutboxMixin, Base):
    pass
