"""learning-outcome certificates: the certificates issued (their signed credential and
offline payload encrypted, their place in the status lists held once) and the ledger entries
each states; each event names the unit that acted (its code and its name as the actor's
token gave it), for the review chain a certificate states

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

STATUS = postgresql.ENUM("valid", "suspended", "revoked", name="certificate_status")

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("application_events", sa.Column("unit_code", sa.String(16), nullable=True))
    op.add_column("application_events", sa.Column("unit_name", sa.String(200), nullable=True))
    op.execute("CREATE SEQUENCE certificate_number_seq")
    op.create_table(
        "certificates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(20), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("unit_path", sa.String(120, collation="C"), nullable=False),
        sa.Column("issuing_unit_code", sa.String(16), nullable=False),
        sa.Column("issuing_unit_path", sa.String(120, collation="C"), nullable=False),
        sa.Column("status", STATUS, nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("status_by", sa.String(64), nullable=True),
        sa.Column("status_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status_index", sa.Integer(), nullable=False),
        sa.Column("kid", sa.String(32), nullable=False),
        sa.Column("credential_enc", sa.LargeBinary(), nullable=False),
        sa.Column("payload_enc", sa.LargeBinary(), nullable=False),
        sa.Column("credential_sha256", sa.String(64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_certificates_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_certificates_application_id_applications"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificates")),
        sa.UniqueConstraint("application_id", name=op.f("uq_certificates_application_id")),
        sa.UniqueConstraint("number", name=op.f("uq_certificates_number")),
        sa.UniqueConstraint("status_index", name=op.f("uq_certificates_status_index")),
    )
    op.create_index(op.f("ix_certificates_account_id"), "certificates", ["account_id"])
    op.create_index(op.f("ix_certificates_unit_path"), "certificates", ["unit_path"])
    op.create_table(
        "certificate_entries",
        sa.Column("certificate_id", sa.Uuid(), nullable=False),
        sa.Column("ledger_entry_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificates.id"],
            name=op.f("fk_certificate_entries_certificate_id_certificates"),
        ),
        sa.ForeignKeyConstraint(
            ["ledger_entry_id"],
            ["ledger_entries.id"],
            name=op.f("fk_certificate_entries_ledger_entry_id_ledger_entries"),
        ),
        sa.PrimaryKeyConstraint(
            "certificate_id", "ledger_entry_id", name=op.f("pk_certificate_entries")
        ),
    )
    op.create_index(
        op.f("ix_certificate_entries_ledger_entry_id"), "certificate_entries", ["ledger_entry_id"]
    )


def downgrade() -> None:
    op.drop_table("certificate_entries")
    op.drop_table("certificates")
    STATUS.drop(op.get_bind())
    op.execute("DROP SEQUENCE certificate_number_seq")
    op.drop_column("application_events", "unit_name")
    op.drop_column("application_events", "unit_code")
