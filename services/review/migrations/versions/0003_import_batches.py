"""import batches: a case may be an import's batch, and a decision may reject its rows

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 07:28:34
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("cases", sa.Column("batch", postgresql.JSONB(), nullable=True))
    op.add_column("cases", sa.Column("rejected_rows", postgresql.JSONB(), nullable=True))
    # Imports go to the sub-centre, as single social-training deposits do: added to the
    # current route table (a table with no version yet is seeded with it by make run).
    op.execute(
        """
        INSERT INTO routes (version, kind, outcome_kind, top_level)
        SELECT max(version), 'import', 'social_training', 'subcentre' FROM routes
        HAVING max(version) IS NOT NULL
        ON CONFLICT DO NOTHING
        """
    )


def downgrade() -> None:
    op.execute("DELETE FROM routes WHERE kind = 'import'")
    op.drop_column("cases", "rejected_rows")
    op.drop_column("cases", "batch")
