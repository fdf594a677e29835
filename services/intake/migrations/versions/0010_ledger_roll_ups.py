"""the ledger's daily and monthly roll-ups (ledger_days, ledger_months): per China-time day
(and month), point, entry kind and outcome kind, the entries posted, their hours and credits,
kept by a statement-level trigger on ledger_entries in the transaction of every insert, and
built here from the rows already posted

Why a trigger: the ledger is written by single inserts (decisions, corrections, conversions),
INSERT ... SELECT (an import's batch approved) and could be by COPY; a trigger is the one place
no path can forget. Statement-level, with the statement's new rows as a transition table: a
batch of 10,000 records is one grouped upsert, not 10,000. INSERT ... ON CONFLICT DO UPDATE
adds to a row another transaction is adding to only after that one commits (it waits on the
row lock, then updates the committed version), so concurrent postings stay exact; the groups
are upserted in key order, so two statements lock shared rows in the same order. The ledger is
append-only (UPDATE and DELETE refused), so inserts are all there is to follow.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 16:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ENTRY_KIND = postgresql.ENUM(
    "deposit", "import", "conversion", "reversal", name="entry_kind", create_type=False
)
# The China-time calendar day and month of a posting (Asia/Shanghai, as shared.clock.CHINA).
DAY = "(posted_at AT TIME ZONE 'Asia/Shanghai')::date"
MONTH = "date_trunc('month', posted_at AT TIME ZONE 'Asia/Shanghai')::date"
KEY = "unit_path, entry_kind, outcome_kind"


def _upsert(table: str, period: str, expression: str, source: str) -> str:
    """Add ``source``'s entries, grouped by ``period`` and point and kinds, to ``table``."""
    return f"""
  INSERT INTO {table} AS t ({period}, {KEY}, entries, hours, credits)
  SELECT {expression}, {KEY}, count(*), sum(hours), sum(credits)
  FROM {source} GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT ({period}, {KEY}) DO UPDATE SET
    entries = t.entries + excluded.entries,
    hours = t.hours + excluded.hours,
    credits = t.credits + excluded.credits"""


CREATE_TRIGGER = f"""
CREATE FUNCTION ledger_entries_roll_up() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
{_upsert("ledger_days", "day", DAY, "posted")};
{_upsert("ledger_months", "month", MONTH, "posted")};
  RETURN NULL;
END $$;
CREATE TRIGGER ledger_entries_roll_up AFTER INSERT ON ledger_entries
  REFERENCING NEW TABLE AS posted
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_roll_up();
"""


def _table(name: str, period: str) -> None:
    op.create_table(
        name,
        sa.Column(period, sa.Date(), nullable=False),
        sa.Column("unit_path", sa.String(length=120, collation="C"), nullable=False),
        sa.Column("entry_kind", ENTRY_KIND, nullable=False),
        sa.Column("outcome_kind", sa.String(length=40), nullable=False),
        sa.Column("entries", sa.BigInteger(), nullable=False),
        sa.Column("hours", sa.Numeric(precision=16, scale=2), nullable=False),
        sa.Column("credits", sa.Numeric(precision=16, scale=2), nullable=False),
        sa.PrimaryKeyConstraint(
            period, "unit_path", "entry_kind", "outcome_kind", name=op.f(f"pk_{name}")
        ),
    )


def upgrade() -> None:
    _table("ledger_days", "day")
    _table("ledger_months", "month")
    # No posting may commit between the backfill's snapshot and the trigger taking over.
    op.execute("LOCK TABLE ledger_entries IN SHARE ROW EXCLUSIVE MODE")
    op.execute(CREATE_TRIGGER)
    op.execute(_upsert("ledger_days", "day", DAY, "ledger_entries"))
    op.execute(_upsert("ledger_months", "month", MONTH, "ledger_entries"))


def downgrade() -> None:
    op.execute("DROP TRIGGER ledger_entries_roll_up ON ledger_entries")
    op.execute("DROP FUNCTION ledger_entries_roll_up()")
    op.drop_table("ledger_months")
    op.drop_table("ledger_days")
