"""learning-outcome certificates: each event names the unit that acted (its code and its
name as the actor's token gave it), for the review chain a certificate states

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("application_events", sa.Column("unit_code", sa.String(16), nullable=True))
    op.add_column("application_events", sa.Column("unit_name", sa.String(200), nullable=True))


def downgrade() -> None:
    op.drop_column("application_events", "unit_name")
    op.drop_column("application_events", "unit_code")
