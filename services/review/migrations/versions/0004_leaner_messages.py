"""a batch's sample rows are no longer held by review (they named learners); a decision's
message says what follows by its outcome alone (no ``final``)

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
    op.execute(
        "UPDATE outbox SET payload = payload - 'final' "
        "WHERE sent_at IS NULL AND task_name = 'intake.apply_decision'"
    )


def downgrade() -> None:
    pass  # the samples are not kept anywhere to put back; intake still serves them
