"""the outbox row and the case keep the trace context (W3C traceparent) of the span that
wrote them: the relay continues the row's trace when it publishes, a decision's trace links
to the case's

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("traceparent", sa.String(length=128), nullable=True))
    op.add_column("cases", sa.Column("traceparent", sa.String(length=128), nullable=True))


def downgrade() -> None:
    op.drop_column("cases", "traceparent")
    op.drop_column("outbox", "traceparent")
