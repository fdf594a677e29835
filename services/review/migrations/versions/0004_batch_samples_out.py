"""a batch's sample rows are no longer held by review: they named learners

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 09:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Reviewers read the sample rows from intake (GET /api/v1/imports/{id}/samples), masked.
    op.execute("UPDATE cases SET batch = batch - 'samples' WHERE batch ? 'samples'")
    op.execute(
        "UPDATE outbox SET payload = payload #- '{batch,samples}' "
        "WHERE sent_at IS NULL AND payload->'batch' ? 'samples'"
    )


def downgrade() -> None:
    pass  # the samples are not kept anywhere to put back; intake still serves them
