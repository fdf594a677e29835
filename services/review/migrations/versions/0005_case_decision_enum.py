"""a case's decision is an enum, like its status

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 10:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE TYPE case_decision AS ENUM ('approve', 'reject', 'return')")
    op.execute(
        "ALTER TABLE cases ALTER COLUMN decision TYPE case_decision "
        "USING decision::case_decision"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE cases ALTER COLUMN decision TYPE varchar(20) USING decision::text")
    op.execute("DROP TYPE case_decision")
