"""learner e-mail address (optional, encrypted, masked)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 05:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("learners", sa.Column("email_enc", sa.LargeBinary(), nullable=True))
    op.add_column("learners", sa.Column("email_mask", sa.String(length=260), nullable=True))


def downgrade() -> None:
    op.drop_column("learners", "email_mask")
    op.drop_column("learners", "email_enc")
