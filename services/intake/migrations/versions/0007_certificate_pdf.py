"""a certificate's PDF kept once rendered (encrypted: it holds the learner's name), so a
printing or a public download costs a read, not a render of half a second or more

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("certificates", sa.Column("pdf_enc", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    op.drop_column("certificates", "pdf_enc")
