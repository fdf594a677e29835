"""case deadlines and reminders, and the outcome's dates

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 03:32:21.176845
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("cases", sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
    # Cases opened before deadlines existed get the default five days from their opening.
    op.execute("UPDATE cases SET due_at = opened_at + interval '5 days'")
    op.alter_column("cases", "due_at", nullable=False)
    op.add_column(
        "cases",
        sa.Column("dates", postgresql.JSONB(astext_type=sa.Text()), server_default="{}"),
    )
    op.alter_column("cases", "dates", nullable=False)
    op.add_column("cases", sa.Column("overdue_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("cases", sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_cases_open_due",
        "cases",
        ["due_at"],
        unique=False,
        postgresql_where=sa.text("status IN ('pending', 'claimed')"),
    )
    op.create_index("ix_cases_unit_path_status", "cases", ["unit_path", "status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_cases_unit_path_status", table_name="cases")
    op.drop_index(
        "ix_cases_open_due",
        table_name="cases",
        postgresql_where=sa.text("status IN ('pending', 'claimed')"),
    )
    op.drop_column("cases", "reminded_at")
    op.drop_column("cases", "overdue_at")
    op.drop_column("cases", "due_at")
    op.drop_column("cases", "dates")
