"""the outbox row keeps the trace context (W3C traceparent) of the span that wrote it: the
relay continues that trace when it publishes the row, long after the span ended

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("traceparent", sa.String(length=128), nullable=True))


def downgrade() -> None:
    op.drop_column("outbox", "traceparent")
