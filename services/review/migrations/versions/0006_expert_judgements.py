"""a case says whether it is an expert judgement (a conversion outside any rule), which
climbs one level higher than its route, and the name of the unit that decided it (as the
decider's token named it: a certificate names the units that approved it)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "cases", sa.Column("expert", sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    op.add_column("cases", sa.Column("decided_unit_name", sa.String(length=200), nullable=True))


def downgrade() -> None:
    op.drop_column("cases", "decided_unit_name")
    op.drop_column("cases", "expert")
