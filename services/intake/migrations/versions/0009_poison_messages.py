"""poison messages: what this service's workers took off a queue and could not act on
(shared/poison.py), recorded by digest, size, queue, reason and task name and id

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 16:00:00
"""

from collections.abc import Sequence

from alembic import op

from shared import poison

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    poison.create_table(op)


def downgrade() -> None:
    op.drop_table("poison_messages")
