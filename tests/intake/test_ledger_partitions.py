"""The ledger partitioned by China-time year (migration 0011): each entry lands in its year's
partition, a China midnight on 1 January being the bound; the "posted once" keys
(``ledger_keys``) hold across partitions, also for two transactions racing; the roll-ups stay
exact over postings into several partitions; the default partition takes a year not made,
and ``ledger_entries_make_year`` then makes it (moving its entries out of the default when
told to)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from services.intake import posting
from services.intake.context import db
from services.intake.models import EntryKind, LedgerEntry, LedgerKey
from tests.intake.test_ledger_rollups import SETUP, application

POINT = "/ZJ/B01/S001/AP000001/"
LAST_2025 = datetime(2025, 12, 31, 15, 59, 59, 999999, tzinfo=UTC)  # 23:59:59.999999 in China
FIRST_2026 = datetime(2025, 12, 31, 16, tzinfo=UTC)  # 2026-01-01 00:00 in China


@pytest.fixture
def account() -> None:
    with db.transaction() as session:
        session.execute(text(SETUP))


def deposit(app: str, at: datetime | None, hours: Decimal = Decimal(1)) -> posting.Posting:
    return posting.Posting(
        account_id=1,
        entry_kind=EntryKind.DEPOSIT,
        application_id=uuid.UUID(app),
        unit_path=POINT,
        outcome_kind="other",
        credits=Decimal(1),
        hours=hours,
        description="deposit",
        posted_at=at,
    )


def new_application() -> str:
    with db.transaction() as session:
        return application(session, POINT)


def partition_of(entry_id: int) -> str:
    with db.transaction() as session:
        return str(
            session.execute(
                text("SELECT tableoid::regclass::text FROM ledger_entries WHERE id = :id"),
                {"id": entry_id},
            ).scalar_one()
        )


def entries_and_keys() -> tuple[int, int]:
    with db.transaction() as session:
        entries = session.scalar(select(func.count()).select_from(LedgerEntry))
        keys = session.scalar(select(func.count()).select_from(LedgerKey))
    return int(entries or 0), int(keys or 0)


def import_records(count: int) -> tuple[uuid.UUID, list[int]]:
    """An import of ``count`` pending records of the account's learner."""
    import_id = uuid.uuid4()
    with db.transaction() as session:
        session.execute(
            text(
                "INSERT INTO imports (id, unit_code, unit_path, uploaded_by_id, uploaded_by, "
                "file_sha256, filename, file_format, size, chunk_size, status, rows_read, "
                "valid, invalid, duplicate, accounts_opened, hours_total) VALUES (:id, "
                "'AP000001', :path, 1, 'w', :sha, 'r.csv', 'csv', 1, 500, 'in_review', 0, 0, "
                "0, 0, 0, 0)"
            ),
            {"id": import_id, "path": POINT, "sha": uuid.uuid4().hex * 2},
        )
        ids = session.execute(
            text(
                "INSERT INTO import_records (import_id, row, learner_id, account_id, "
                "record_key, organiser, programme, hours, start_date, end_date, "
                "certificate_number, status) SELECT CAST(:id AS uuid), k + 1, 1, 1, "
                "md5(:key || k), 'o', 'p', 1.5, '2025-01-01', '2025-01-02', 'C' || k, 'pending' "
                "FROM generate_series(1, :n) k RETURNING id"
            ),
            {"id": import_id, "key": str(import_id), "n": count},
        ).scalars()
        return import_id, sorted(ids)


@pytest.mark.usefixtures("account")
@pytest.mark.parametrize(
    ("at", "partition"),
    [(LAST_2025, "ledger_entries_2025"), (FIRST_2026, "ledger_entries_2026")],
    ids=["last-microsecond-of-2025", "first-of-2026"],
)
def test_an_entry_lands_in_its_china_years_partition(at: datetime, partition: str) -> None:
    with db.transaction() as session:
        entry_id = posting.post(session, deposit(application(session, POINT), at))
    assert entry_id is not None and partition_of(entry_id) == partition
    with db.transaction() as session:
        found = posting.entry(session, entry_id)
        key = session.get_one(LedgerKey, entry_id)
        assert found.posted_at == at and key.posted_at == at


@pytest.mark.usefixtures("account")
def test_an_application_posted_again_in_the_next_years_partition_is_refused() -> None:
    app = new_application()
    with db.transaction() as session:
        first = posting.post(session, deposit(app, LAST_2025))
    with db.transaction() as session:
        again = posting.post(session, deposit(app, FIRST_2026, Decimal(5)))
    assert first is not None and again is None
    assert entries_and_keys() == (1, 1)
    assert partition_of(first) == "ledger_entries_2025"
    # A second reversal (posted without "once") is an error, as a second insert always was.
    with db.transaction() as session:
        posting.post(
            session, replace(deposit(app, None), entry_kind=EntryKind.REVERSAL), once=False
        )
    with pytest.raises(IntegrityError), db.transaction() as session:
        reversal = replace(deposit(app, FIRST_2026), entry_kind=EntryKind.REVERSAL)
        posting.post(session, reversal, once=False)
    assert entries_and_keys() == (2, 2)


@pytest.mark.usefixtures("account")
def test_an_import_record_is_posted_once_across_years() -> None:
    import_id, ids = import_records(3)
    record = posting.Posting(
        account_id=1,
        entry_kind=EntryKind.IMPORT,
        import_record_id=ids[0],
        unit_path=POINT,
        outcome_kind="social_training",
        hours=Decimal("1.5"),
        description="p",
        posted_at=LAST_2025,
    )
    with db.transaction() as session:
        first = posting.post(session, record)
    with db.transaction() as session:
        again = posting.post(session, replace(record, posted_at=FIRST_2026))
    assert first is not None and again is None
    # The batch posts the two others now (in this year), and the first not again.
    with db.transaction() as session:
        assert posting.post_records(session, import_id, POINT) == 2
    with db.transaction() as session:
        assert posting.post_records(session, import_id, POINT) == 0
        posted = session.execute(
            text("SELECT import_record_id FROM ledger_entries ORDER BY import_record_id")
        ).scalars()
        assert list(posted) == ids
    assert entries_and_keys() == (3, 3)


def _waiting_on_a_lock(pid: int) -> bool:
    with db.transaction() as session:
        return bool(
            session.execute(
                text("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = :pid"),
                {"pid": pid},
            ).scalar()
        )


@pytest.mark.usefixtures("account")
@pytest.mark.parametrize(
    ("first_at", "second_at"),
    [
        (datetime(2025, 6, 1, 2, tzinfo=UTC), datetime(2025, 6, 1, 3, tzinfo=UTC)),
        (LAST_2025, FIRST_2026),
        (FIRST_2026, LAST_2025),
    ],
    ids=["same-year", "across-the-new-year", "across-it-the-other-way"],
)
def test_two_transactions_racing_to_post_the_same_application_post_it_once(
    first_at: datetime, second_at: datetime
) -> None:
    """The second waits on the first's uncommitted key, then finds it there and posts
    nothing, in whichever partition each would have put its entry."""
    app = new_application()
    results: dict[str, Any] = {}
    first, second = Session(db.engine), Session(db.engine)
    try:
        results["first"] = posting.post(first, deposit(app, first_at))
        pid = second.execute(text("SELECT pg_backend_pid()")).scalar_one()

        def race() -> None:
            results["second"] = posting.post(second, deposit(app, second_at, Decimal(7)))
            second.commit()

        racing = threading.Thread(target=race)
        racing.start()
        while not _waiting_on_a_lock(pid):  # blocked on the first's key (the unique index)
            assert racing.is_alive()
            time.sleep(0.01)
        first.commit()
        racing.join()
    finally:
        first.close()
        second.close()
    assert results["first"] is not None and results["second"] is None
    assert entries_and_keys() == (1, 1)
    with db.transaction() as session:
        entry = posting.entry(session, results["first"])
        assert entry.posted_at == first_at and entry.hours == Decimal(1)


def _roll_ups_against_raw() -> tuple[list[Any], list[Any]]:
    """The roll-ups as held, and as the entries give them (China days)."""
    with db.transaction() as session:
        held = session.execute(
            text(
                "SELECT day, unit_path, entry_kind, outcome_kind, entries, hours, credits "
                "FROM ledger_days ORDER BY 1, 2, 3, 4"
            )
        ).all()
        raw = session.execute(
            text(
                "SELECT (posted_at AT TIME ZONE 'Asia/Shanghai')::date, unit_path, entry_kind, "
                "outcome_kind, count(*), sum(hours), sum(credits) FROM ledger_entries "
                "GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
            )
        ).all()
        months = session.execute(
            text("SELECT month, sum(entries), sum(hours) FROM ledger_months GROUP BY 1 ORDER BY 1")
        ).all()
        raw_months = session.execute(
            text(
                "SELECT date_trunc('month', posted_at AT TIME ZONE 'Asia/Shanghai')::date, "
                "count(*), sum(hours) FROM ledger_entries GROUP BY 1 ORDER BY 1"
            )
        ).all()
    assert months == raw_months
    return held, raw


# China midnights of several years' bounds and a moment in the default partition (2040).
MOMENTS = [
    datetime(2009, 12, 31, 16, tzinfo=UTC),  # 2010's first moment: its partition, the first
    datetime(2009, 12, 31, 15, 59, 59, 999999, tzinfo=UTC),  # 2009: the default partition
    LAST_2025,
    FIRST_2026,
    datetime(2030, 7, 1, tzinfo=UTC),
    datetime(2035, 12, 31, 15, 59, 59, 999999, tzinfo=UTC),  # 2035's last: the last partition
    datetime(2035, 12, 31, 16, tzinfo=UTC),  # 2036: the default
]


@pytest.mark.usefixtures("account")
def test_the_roll_ups_hold_what_postings_into_several_partitions_put_in_the_ledger() -> None:
    import_id, _ = import_records(4)
    with db.transaction() as session:
        ids = [
            posting.post(session, deposit(application(session, POINT), at, Decimal(n + 1)))
            for n, at in enumerate(MOMENTS)
        ]
        posting.post_records(session, import_id, POINT)  # now, in this year's partition
    assert [partition_of(i) for i in ids if i is not None] == [
        "ledger_entries_2010",
        "ledger_entries_default",
        "ledger_entries_2025",
        "ledger_entries_2026",
        "ledger_entries_2030",
        "ledger_entries_2035",
        "ledger_entries_default",
    ]
    held, raw = _roll_ups_against_raw()
    assert held == raw and len(held) == len(MOMENTS) + 1


@pytest.fixture
def year_2040() -> Iterator[None]:
    yield
    with db.transaction() as session:  # the test database's ledger as the migration made it
        session.execute(text("DROP TABLE IF EXISTS ledger_entries_2040"))


@pytest.mark.usefixtures("account", "year_2040")
def test_the_default_partition_takes_a_year_not_made_until_make_year_makes_it() -> None:
    at = datetime(2040, 3, 1, tzinfo=UTC)
    with db.transaction() as session:
        in_default = posting.post(session, deposit(application(session, POINT), at))
        other = posting.post(session, deposit(application(session, POINT), FIRST_2026))
    assert in_default is not None and partition_of(in_default) == "ledger_entries_default"
    before = _roll_ups_against_raw()
    refused = pytest.raises(DBAPIError, match="ledger_entries_default holds 1 entries of 2040")
    with refused as got, db.transaction() as session:
        session.execute(text("SELECT ledger_entries_make_year(2040)"))
    assert "move_from_default => true" in str(got.value.orig.diag.message_hint)  # type: ignore[union-attr]
    with db.transaction() as session:
        made = session.execute(
            text("SELECT ledger_entries_make_year(2040, move_from_default => true)")
        )
        assert made.scalar_one() == "ledger_entries_2040"
    assert partition_of(in_default) == "ledger_entries_2040"
    assert other is not None and partition_of(other) == "ledger_entries_2026"
    assert _roll_ups_against_raw() == before  # moved, not counted again
    with db.transaction() as session:
        assert posting.entry(session, in_default).posted_at == at
        later = posting.post(session, deposit(application(session, POINT), at))
        made = session.execute(text("SELECT ledger_entries_make_year(2040)")).scalar_one()
        assert made == "ledger_entries_2040 was there"
    assert later is not None and partition_of(later) == "ledger_entries_2040"
    held, raw = _roll_ups_against_raw()
    assert held == raw


@pytest.mark.usefixtures("account")
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_entries_2025 SET hours = 999",
        "DELETE FROM ledger_entries_2025",
        "UPDATE ledger_keys SET posted_at = now()",
        "DELETE FROM ledger_keys",
    ],
)
def test_a_partition_and_the_keys_are_append_only_too(statement: str) -> None:
    with db.transaction() as session:
        posting.post(session, deposit(application(session, POINT), LAST_2025))
    with pytest.raises(DBAPIError, match="append-only"), db.transaction() as session:
        session.execute(text(statement))
    assert entries_and_keys() == (1, 1)
