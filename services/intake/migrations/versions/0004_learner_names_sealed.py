"""learners' names encrypted like their numbers; no name in clear in versions or messages

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _cipher():  # type: ignore[no-untyped-def]
    # Only when there are names to seal: a new database needs no key to be migrated.
    from shared.pii import load_cipher
    from shared.settings import load_settings

    settings = load_settings("intake")
    return load_cipher(settings.key_file(settings.pii_key_file, "pii.json"))


def upgrade() -> None:
    from shared.pii import mask_name

    op.add_column("learners", sa.Column("name_enc", sa.LargeBinary(), nullable=True))
    op.add_column("learners", sa.Column("name_hash", sa.String(length=64), nullable=True))
    op.add_column("learners", sa.Column("name_mask", sa.String(length=50), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, name FROM learners")).all()
    if rows:
        cipher = _cipher()
        bind.execute(
            sa.text("UPDATE learners SET name_enc = :enc, name_hash = :hash, name_mask = :mask "
                    "WHERE id = :id"),
            [
                {
                    "id": learner_id,
                    "enc": cipher.encrypt(name, "learner.name"),
                    "hash": cipher.lookup_hash("name", name),
                    "mask": mask_name(name),
                }
                for learner_id, name in rows
            ],
        )
    for column in ("name_enc", "name_hash", "name_mask"):
        op.alter_column("learners", column, nullable=False)
    op.drop_column("learners", "name")
    # An opening's versions keep the name masked, as they keep the numbers.
    versions = bind.execute(
        sa.text("SELECT id, data->>'name' FROM application_versions WHERE data ? 'name'")
    ).all()
    for version_id, name in versions:
        bind.execute(
            sa.text("UPDATE application_versions SET data = jsonb_set(data, '{name}', "
                    "to_jsonb(CAST(:mask AS text))) WHERE id = :id"),
            {"id": version_id, "mask": mask_name(name or "")},
        )
    # A batch's sample rows named learners: reviewers now read them from intake, masked.
    op.execute("UPDATE application_versions SET data = data - 'samples' WHERE data ? 'samples'")
    op.execute(
        "UPDATE outbox SET payload = payload #- '{batch,samples}' "
        "WHERE sent_at IS NULL AND payload->'batch' ? 'samples'"
    )
    # Unsent reconciliations are made again by the next sweep, without samples.
    op.execute("DELETE FROM outbox WHERE sent_at IS NULL AND task_name = 'review.reconcile'")


def downgrade() -> None:
    op.add_column("learners", sa.Column("name", sa.String(length=50), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, name_enc FROM learners")).all()
    if rows:
        cipher = _cipher()
        bind.execute(
            sa.text("UPDATE learners SET name = :name WHERE id = :id"),
            [{"id": i, "name": cipher.decrypt(enc, "learner.name")} for i, enc in rows],
        )
    op.alter_column("learners", "name", nullable=False)
    for column in ("name_mask", "name_hash", "name_enc"):
        op.drop_column("learners", column)
