"""refresh-token families: each refresh token belongs to the sign-in that started it

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 09:03:50
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('token_families',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_because', sa.String(length=20), nullable=True),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_token_families_staff_id_staff')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_token_families'))
    )
    op.create_index('ix_token_families_revoked_at', 'token_families', ['revoked_at'], unique=False, postgresql_where=sa.text('revoked_at IS NOT NULL'))
    op.create_index(op.f('ix_token_families_staff_id'), 'token_families', ['staff_id'], unique=False)
    op.add_column('refresh_tokens', sa.Column('family_id', sa.Uuid(), nullable=True))
    # Tokens from before families: nothing records which one succeeded which, so each is a
    # family of its own (a sign-in held when this runs keeps working).
    op.execute("UPDATE refresh_tokens SET family_id = gen_random_uuid()")
    op.execute(
        "INSERT INTO token_families (id, staff_id, created_at) "
        "SELECT family_id, staff_id, created_at FROM refresh_tokens"
    )
    op.alter_column('refresh_tokens', 'family_id', nullable=False)
    op.create_index(op.f('ix_refresh_tokens_family_id'), 'refresh_tokens', ['family_id'], unique=False)
    op.create_foreign_key(op.f('fk_refresh_tokens_family_id_token_families'), 'refresh_tokens', 'token_families', ['family_id'], ['id'])


def downgrade() -> None:
    op.drop_constraint(op.f('fk_refresh_tokens_family_id_token_families'), 'refresh_tokens', type_='foreignkey')
    op.drop_index(op.f('ix_refresh_tokens_family_id'), table_name='refresh_tokens')
    op.drop_column('refresh_tokens', 'family_id')
    op.drop_index(op.f('ix_token_families_staff_id'), table_name='token_families')
    op.drop_index('ix_token_families_revoked_at', table_name='token_families', postgresql_where=sa.text('revoked_at IS NOT NULL'))
    op.drop_table('token_families')
