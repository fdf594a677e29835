"""Alembic environment of the review service (its own database, its own metadata)."""

from services.review.models import Base
from shared.migrations import run_migrations

run_migrations(Base.metadata, "review")
