"""The ledger's daily and monthly roll-ups (``ledger_days``, ``ledger_months``) against the
entries themselves: whatever way an entry is posted (the posting path's one statement, INSERT
... SELECT, COPY, a reversal; the last two after their keys), by concurrent transactions, into
any year's partition, and on either side of a China midnight, the roll-ups
hold exactly what a count of the entries gives, day by day in China time.

(The SQL text built here (``noqa: S608``) joins this module's own column and table names.)"""

from __future__ import annotations

import random
import threading
import uuid
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from services.intake import posting
from services.intake.assessment.rollups import Periods, periods
from services.intake.context import db
from services.intake.models import EntryKind
from tests.factories import Window

SHANGHAI = ZoneInfo("Asia/Shanghai")
POINTS = ["/ZJ/B01/S001/AP000001/", "/ZJ/B01/S001/AP000002/", "/ZJ/B02/AP000003/"]
KINDS = ["social_training", "academic_credit", "other"]
# One account (and its learner) every entry posts to; the entries' sources are made apart.
SETUP = """
INSERT INTO learners (id, document_type, document_enc, document_hash, document_mask, name_enc,
    name_hash, name_mask, phone_enc, phone_hash, phone_mask, unit_code, unit_path, created_by)
VALUES (1, 'resident_id', '\\x00', 'd', 'm', '\\x00', 'n', 'm', '\\x00', 'p', 'm', 'AP000001',
    '/ZJ/B01/S001/AP000001/', 1);
INSERT INTO accounts (id, learner_id, status, unit_code, unit_path)
VALUES (1, 1, 'open', 'AP000001', '/ZJ/B01/S001/AP000001/');
"""
ENTRY_COLUMNS = (
    "id, account_id, entry_kind, application_id, unit_path, outcome_kind, credits, hours, "
    "description, posted_at"
)
Entry = tuple[str, str, str, Decimal, Decimal, datetime]  # kind, path, outcome, credits, hours


def application(session: Any, path: str) -> str:
    return str(
        session.execute(
            text(
                "INSERT INTO applications (id, kind, outcome_kind, status, account_id, "
                "unit_code, unit_path, taken_by_id, taken_by, round, version) VALUES "
                "(gen_random_uuid(), 'deposit', 'other', 'approved', 1, 'AP', :path, 1, 'w', "
                "1, 1) RETURNING id"
            ),
            {"path": path},
        ).scalar_one()
    )


def moment(rng: random.Random) -> datetime:
    """Anywhere in February to April 2025, or on a China midnight or a microsecond before."""
    if rng.random() < 0.3:
        midnight = datetime(2025, 3, rng.randrange(1, 31), 16, tzinfo=UTC)
        return midnight - rng.choice([timedelta(0), timedelta(microseconds=1)])
    start = datetime(2025, 2, 1, tzinfo=UTC)
    return start + timedelta(seconds=rng.randrange(89 * 86_400), microseconds=rng.randrange(10**6))


def random_entries(rng: random.Random, count: int) -> list[Entry]:
    kinds = ["deposit"] * 3 + ["conversion", "reversal"]
    return [
        (
            rng.choice(kinds),
            rng.choice(POINTS),
            rng.choice(KINDS),
            Decimal(rng.randrange(-500, 5000)) / 100,
            Decimal(rng.randrange(-500, 20000)) / 100,
            moment(rng),
        )
        for _ in range(count)
    ]


def post_one_by_one(session: Any, entries: list[Entry]) -> None:
    """Each through the posting path (``services.intake.posting``), as a decision posts."""
    for kind, path, outcome, credits, hours, at in entries:
        posting.post(
            session,
            posting.Posting(
                account_id=1,
                entry_kind=EntryKind(kind),
                application_id=uuid.UUID(application(session, path)),
                unit_path=path,
                outcome_kind=outcome,
                credits=credits,
                hours=hours,
                description="one",
                posted_at=at,
            ),
        )


def keyed(session: Any, entries: list[Entry]) -> tuple[list[int], list[str]]:
    """Key rows for ``entries`` (each of an application made here), written on their own so
    that the entries can go in by another statement: their ids and applications."""
    apps = [application(session, entry[1]) for entry in entries]
    ids = list(
        session.execute(
            text(
                "SELECT nextval(pg_get_serial_sequence('ledger_keys', 'entry_id')) "
                "FROM generate_series(1, :n)"
            ),
            {"n": len(entries)},
        ).scalars()
    )
    session.execute(
        text(
            "INSERT INTO ledger_keys (entry_id, entry_kind, application_id, posted_at) "
            "SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:kinds AS entry_kind[]), "
            "CAST(:apps AS uuid[]), CAST(:ats AS timestamptz[]))"
        ),
        {
            "ids": ids,
            "kinds": [e[0] for e in entries],
            "apps": apps,
            "ats": [e[5] for e in entries],
        },
    )
    return ids, apps


def post_in_one_statement(session: Any, entries: list[Entry]) -> None:
    """Many rows in one INSERT ... SELECT, as an import's batch is posted."""
    ids, apps = keyed(session, entries)
    session.execute(
        text(
            f"INSERT INTO ledger_entries ({ENTRY_COLUMNS}) SELECT id, 1, kind::entry_kind, "  # noqa: S608
            "app::uuid, path, outcome, credits, hours, 'batch', at FROM unnest("
            "CAST(:ids AS bigint[]), "
            "CAST(:kinds AS text[]), CAST(:apps AS text[]), CAST(:paths AS text[]), "
            "CAST(:outcomes AS text[]), CAST(:credits AS numeric[]), "
            "CAST(:hours AS numeric[]), "
            "CAST(:ats AS timestamptz[])) AS r(id, kind, app, path, outcome, credits, hours, at)"
        ),
        {
            "ids": ids,
            "kinds": [r[0] for r in entries],
            "paths": [r[1] for r in entries],
            "outcomes": [r[2] for r in entries],
            "credits": [r[3] for r in entries],
            "hours": [r[4] for r in entries],
            "ats": [r[5] for r in entries],
            "apps": apps,
        },
    )


def post_by_copy(session: Any, entries: list[Entry]) -> None:
    ids, apps = keyed(session, entries)
    cursor = session.connection().connection.driver_connection.cursor()
    with cursor.copy(f"COPY ledger_entries ({ENTRY_COLUMNS}) FROM STDIN") as copy:
        for (kind, path, outcome, credits, hours, at), app, id_ in zip(
            entries, apps, ids, strict=True
        ):
            copy.write_row((id_, 1, kind, app, path, outcome, credits, hours, "copy", at))


def totals_expected(entries: list[Entry], period: str) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    """The roll-up rows computed here: each entry's China-time day (or month's first day)."""
    sums: dict[tuple[Any, ...], list[Any]] = defaultdict(lambda: [0, Decimal(0), Decimal(0)])
    for kind, path, outcome, credits, hours, at in entries:
        day = at.astimezone(SHANGHAI).date()
        key = (day if period == "day" else day.replace(day=1), path, kind, outcome)
        total = sums[key]
        total[0] += 1
        total[1] += hours
        total[2] += credits
    return {key: tuple(value) for key, value in sums.items()}


def totals_held(table: str, period: str) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    with db.transaction() as session:
        rows = session.execute(
            text(
                f"SELECT {period}, unit_path, entry_kind::text, outcome_kind, entries, hours, "  # noqa: S608
                f"credits FROM {table}"
            )
        )
        return {tuple(r[:4]): tuple(r[4:]) for r in rows}


@pytest.fixture
def account() -> None:
    with db.transaction() as session:
        session.execute(text(SETUP))


@pytest.mark.usefixtures("account")
def test_the_roll_ups_hold_what_every_way_of_posting_put_in_the_ledger() -> None:
    rng = random.Random(20261201)
    posted: list[Entry] = []
    for post in (post_one_by_one, post_in_one_statement, post_by_copy, post_in_one_statement):
        entries = random_entries(rng, 120)
        with db.transaction() as session:
            post(session, entries)
        posted += entries
    assert totals_held("ledger_days", "day") == totals_expected(posted, "day")
    assert totals_held("ledger_months", "month") == totals_expected(posted, "month")
    assert {k[2] for k in totals_held("ledger_days", "day")} == {
        "deposit",
        "conversion",
        "reversal",
    }


@pytest.mark.usefixtures("account")
def test_a_rolled_back_posting_leaves_the_roll_ups_as_they_were() -> None:
    rng = random.Random(7)
    kept = random_entries(rng, 20)
    with db.transaction() as session:
        post_in_one_statement(session, kept)
    with pytest.raises(RuntimeError), db.transaction() as session:
        post_in_one_statement(session, random_entries(rng, 20))
        raise RuntimeError("the posting's transaction fails")
    assert totals_held("ledger_days", "day") == totals_expected(kept, "day")


@pytest.mark.usefixtures("account")
def test_concurrent_postings_to_the_same_day_and_point_add_up() -> None:
    """The second transaction's upsert waits for the first's row and adds to what it
    committed: nothing counted twice, nothing lost."""
    url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    at = datetime(2025, 3, 14, 3, tzinfo=UTC)
    with db.transaction() as session:
        apps = [application(session, POINTS[0]) for _ in range(2)]
    insert = (  # the posting path's statement, as psycopg runs it
        "WITH key AS (INSERT INTO ledger_keys (entry_kind, application_id, posted_at) "  # noqa: S608
        "VALUES ('deposit', %s, %s) RETURNING entry_id, application_id, posted_at) "
        f"INSERT INTO ledger_entries ({ENTRY_COLUMNS}) SELECT entry_id, 1, 'deposit', "
        "application_id, %s, 'other', 1, 2.5, 'concurrent', posted_at FROM key"
    )
    first, second = psycopg.connect(url), psycopg.connect(url)
    try:
        first.execute(insert, (apps[0], at, POINTS[0]))  # holds the day's new row
        waiting = threading.Thread(
            target=lambda: (second.execute(insert, (apps[1], at, POINTS[0])), second.commit())
        )
        waiting.start()
        waiting.join(timeout=1)
        assert waiting.is_alive()  # blocked on the first transaction's roll-up row
        first.commit()
        waiting.join(timeout=10)
        assert not waiting.is_alive()
    finally:
        first.close()
        second.close()
    key = (date(2025, 3, 14), POINTS[0], "deposit", "other")
    assert totals_held("ledger_days", "day")[key] == (2, Decimal("5.00"), Decimal("2.00"))


@pytest.mark.usefixtures("account")
@pytest.mark.parametrize(
    ("posted", "day"),
    [
        (datetime(2025, 3, 14, 15, 59, 59, 999000, tzinfo=UTC), date(2025, 3, 14)),
        (datetime(2025, 3, 14, 15, 59, 59, 999999, tzinfo=UTC), date(2025, 3, 14)),
        (datetime(2025, 3, 14, 16, tzinfo=UTC), date(2025, 3, 15)),
        (datetime(2025, 3, 31, 15, 59, 59, 999999, tzinfo=UTC), date(2025, 3, 31)),
        (datetime(2025, 3, 31, 16, tzinfo=UTC), date(2025, 4, 1)),
    ],
    ids=["16h-less-1ms", "16h-less-1us", "16h-utc", "month-end-less-1us", "month-end-16h"],
)
def test_an_entry_counts_on_its_china_day_and_no_other(
    window: Window, posted: datetime, day: date
) -> None:
    with db.transaction() as session:
        post_one_by_one(session, [("deposit", POINTS[0], "other", Decimal(1), Decimal(1), posted)])
    headers = window.token(unit="ZJ", path="/ZJ/", level="province", roles=("admin",), state=None)
    counted = Counter()
    for offset in (-1, 0, 1):
        asked = day + timedelta(days=offset)
        query = {"from": str(asked), "to": str(asked), "by": "province"}
        rows = window.client.get("/api/v1/assessment", headers=headers, query_string=query)
        counted[offset] = sum(r["deposits"] for r in rows.json["rows"])
    assert counted == Counter({-1: 0, 0: 1, 1: 0})
    assert list(totals_held("ledger_days", "day")) == [(day, POINTS[0], "deposit", "other")]


def days_of(split: Periods) -> list[date]:
    """Every day the split covers, a whole month's days included, in order (repeats kept)."""
    covered: list[date] = []
    if split.months is not None:
        month = split.months[0]
        while month <= split.months[1]:
            following = (month + timedelta(days=32)).replace(day=1)
            covered += [month + timedelta(days=n) for n in range((following - month).days)]
            month = following
    for first, last in split.days:
        covered += [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return sorted(covered)


@given(
    first=st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)),
    length=st.integers(min_value=1, max_value=366),
)
def test_a_range_splits_into_whole_months_and_days_covering_each_day_once(
    first: date, length: int
) -> None:
    last = first + timedelta(days=length - 1)
    split = periods(first, last)
    assert days_of(split) == [first + timedelta(days=n) for n in range(length)]
    if split.months is not None:
        assert split.months[0].day == 1 and split.months[1].day == 1
    for a, b in split.days:  # no whole calendar month is left among the days
        starts = [a + timedelta(days=n) for n in range((b - a).days + 1)]
        for start in (d for d in starts if d.day == 1):
            assert (start + timedelta(days=32)).replace(day=1) - timedelta(days=1) > b


@pytest.mark.parametrize(
    ("first", "last", "months", "days"),
    [
        (date(2025, 1, 1), date(2025, 12, 31), (date(2025, 1, 1), date(2025, 12, 1)), ()),
        (date(2025, 1, 15), date(2025, 1, 20), None, ((date(2025, 1, 15), date(2025, 1, 20)),)),
        (
            date(2024, 1, 31),
            date(2024, 3, 1),
            (date(2024, 2, 1), date(2024, 2, 1)),
            ((date(2024, 1, 31), date(2024, 1, 31)), (date(2024, 3, 1), date(2024, 3, 1))),
        ),
        (date(2024, 2, 1), date(2024, 2, 28), None, ((date(2024, 2, 1), date(2024, 2, 28)),)),
        (date(2024, 2, 1), date(2024, 2, 29), (date(2024, 2, 1), date(2024, 2, 1)), ()),
    ],
    ids=["a-calendar-year", "days-in-a-month", "a-leap-february-between-days",
         "a-leap-february-less-its-last-day", "a-whole-leap-february"],
)  # fmt: skip
def test_a_range_splits_as_the_calendar_says(
    first: date, last: date, months: tuple[date, date] | None, days: tuple[Any, ...]
) -> None:
    assert periods(first, last) == Periods(months, days)
