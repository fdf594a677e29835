"""Alembic environment of the org service (its own database, its own metadata)."""

from services.org.models import Base
from shared.migrations import run_migrations

run_migrations(Base.metadata, "org")
