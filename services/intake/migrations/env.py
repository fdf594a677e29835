"""Alembic environment of the intake service (its own database, its own metadata)."""

from services.intake.models import Base
from shared.migrations import run_migrations

run_migrations(Base.metadata, "intake")
