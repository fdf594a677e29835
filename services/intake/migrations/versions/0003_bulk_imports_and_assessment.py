"""bulk imports of social-training records; what the assessment counts by

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 07:18:01.548129
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # IF NOT EXISTS: a downgrade cannot take an enum value away, so an upgrade after it finds it.
    op.execute("ALTER TYPE application_kind ADD VALUE IF NOT EXISTS 'import'")
    op.create_table(
        "imports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("unit_code", sa.String(length=16), nullable=False),
        sa.Column("unit_path", sa.String(length=120, collation="C"), nullable=False),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=64), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("file_format", sa.String(length=10), nullable=False),
        sa.Column("encoding", sa.String(length=20), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("rows_sha256", sa.String(length=64), nullable=True),
        sa.Column("rows_total", sa.Integer(), nullable=True),
        sa.Column("chunk_size", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "received",
                "processing",
                "in_review",
                "no_records",
                "refused",
                "approved",
                "rejected",
                "withdrawn",
                name="import_status",
            ),
            nullable=False,
        ),
        sa.Column("rows_read", sa.Integer(), nullable=False),
        sa.Column("valid", sa.Integer(), nullable=False),
        sa.Column("invalid", sa.Integer(), nullable=False),
        sa.Column("duplicate", sa.Integer(), nullable=False),
        sa.Column("accounts_opened", sa.Integer(), nullable=False),
        sa.Column("hours_total", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("ready_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_imports_application_id_applications"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imports")),
        sa.UniqueConstraint("unit_code", "file_sha256", name="uq_import_file"),
    )
    op.create_index(op.f("ix_imports_unit_path"), "imports", ["unit_path"], unique=False)
    op.create_table(
        "import_chunks",
        sa.Column("import_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("first_row", sa.Integer(), nullable=False),
        sa.Column("last_row", sa.Integer(), nullable=False),
        sa.Column("rows_sha256", sa.String(length=64), nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["import_id"], ["imports.id"], name=op.f("fk_import_chunks_import_id_imports")
        ),
        sa.PrimaryKeyConstraint("import_id", "number", name=op.f("pk_import_chunks")),
    )
    op.create_table(
        "import_issues",
        sa.Column("import_id", sa.Uuid(), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("column", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"], ["imports.id"], name=op.f("fk_import_issues_import_id_imports")
        ),
        sa.PrimaryKeyConstraint("import_id", "row", "column", name=op.f("pk_import_issues")),
    )
    op.create_table(
        "import_records",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("import_id", sa.Uuid(), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("learner_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("record_key", sa.String(length=64), nullable=False),
        sa.Column("organiser", sa.String(length=100), nullable=False),
        sa.Column("programme", sa.String(length=100), nullable=False),
        sa.Column("hours", sa.Numeric(precision=8, scale=2), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("certificate_number", sa.String(length=64), nullable=False),
        sa.Column(
            "status",
            sa.Enum("pending", "approved", "rejected", name="record_status"),
            nullable=False,
        ),
        sa.Column("rejected_level", sa.String(length=20), nullable=True),
        sa.Column("rejected_reason", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_import_records_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["import_id"], ["imports.id"], name=op.f("fk_import_records_import_id_imports")
        ),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_import_records_learner_id_learners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_records")),
        sa.UniqueConstraint("import_id", "row", name="uq_import_record_row"),
    )
    op.create_index(
        op.f("ix_import_records_learner_id"), "import_records", ["learner_id"], unique=False
    )
    op.create_index(
        "uq_import_records_held",
        "import_records",
        ["record_key"],
        unique=True,
        postgresql_where=sa.text("status <> 'rejected'"),
    )
    op.add_column("accounts", sa.Column("opened_by_import_id", sa.Uuid(), nullable=True))
    op.create_index("ix_accounts_opened_at", "accounts", ["opened_at"], unique=False)
    op.alter_column("applications", "learner_id", existing_type=sa.INTEGER(), nullable=True)
    op.alter_column("applications", "account_id", existing_type=sa.INTEGER(), nullable=True)
    op.create_index("ix_applications_final_at", "applications", ["final_at"], unique=False)
    op.add_column("ledger_entries", sa.Column("import_record_id", sa.BigInteger(), nullable=True))
    op.add_column(
        "ledger_entries",
        sa.Column("unit_path", sa.String(length=120, collation="C"), nullable=True),
    )
    # The postings already made count under the point that took their application. The
    # ledger refuses updates; this one-off fill is the migration's, with the trigger paused.
    op.execute("ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only")
    op.execute(
        "UPDATE ledger_entries e SET unit_path = a.unit_path FROM applications a "
        "WHERE a.id = e.application_id"
    )
    op.execute("ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_append_only")
    op.alter_column("ledger_entries", "unit_path", nullable=False)
    op.alter_column("ledger_entries", "application_id", existing_type=sa.UUID(), nullable=True)
    op.create_index("ix_ledger_entries_posted_at", "ledger_entries", ["posted_at"], unique=False)
    op.create_unique_constraint(
        op.f("uq_ledger_entries_import_record_id"), "ledger_entries", ["import_record_id"]
    )
    op.create_foreign_key(
        op.f("fk_ledger_entries_import_record_id_import_records"),
        "ledger_entries",
        "import_records",
        ["import_record_id"],
        ["id"],
    )
    op.create_check_constraint(
        op.f("ck_ledger_entries_one_source"),
        "ledger_entries",
        "(application_id IS NULL) <> (import_record_id IS NULL)",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_ledger_entries_one_source"), "ledger_entries", type_="check")
    op.drop_constraint(
        op.f("fk_ledger_entries_import_record_id_import_records"),
        "ledger_entries",
        type_="foreignkey",
    )
    op.drop_constraint(op.f("uq_ledger_entries_import_record_id"), "ledger_entries", type_="unique")
    op.drop_index("ix_ledger_entries_posted_at", table_name="ledger_entries")
    op.alter_column("ledger_entries", "application_id", existing_type=sa.UUID(), nullable=False)
    op.drop_column("ledger_entries", "unit_path")
    op.drop_column("ledger_entries", "import_record_id")
    op.drop_index("ix_applications_final_at", table_name="applications")
    op.alter_column("applications", "account_id", existing_type=sa.INTEGER(), nullable=False)
    op.alter_column("applications", "learner_id", existing_type=sa.INTEGER(), nullable=False)
    op.drop_index("ix_accounts_opened_at", table_name="accounts")
    op.drop_column("accounts", "opened_by_import_id")
    op.drop_index(
        "uq_import_records_held",
        table_name="import_records",
        postgresql_where=sa.text("status <> 'rejected'"),
    )
    op.drop_index(op.f("ix_import_records_learner_id"), table_name="import_records")
    op.drop_table("import_records")
    op.drop_table("import_issues")
    op.drop_table("import_chunks")
    op.drop_index(op.f("ix_imports_unit_path"), table_name="imports")
    op.drop_table("imports")
    op.execute("DROP TYPE import_status")
    op.execute("DROP TYPE record_status")
