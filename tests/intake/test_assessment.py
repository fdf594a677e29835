"""The assessment figures against an independent count: rows generated with a seeded random
generator straight into intake's tables, every figure of every group recomputed here in
plain Python from the generated rows (own grouping from the paths, own percentiles)."""

from __future__ import annotations

import csv
import io
import itertools
import math
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction
from typing import Any

import openpyxl
import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, insert

from services.intake import posting
from services.intake.app import create_app
from services.intake.assessment import figures
from services.intake.context import db
from services.intake.models import (
    Account,
    Application,
    EntryKind,
    Import,
    ImportRecord,
    Learner,
)
from shared.auth import Principal
from shared.settings import load_settings
from tests.factories import Window

FIRST, LAST = date(2025, 3, 1), date(2025, 3, 31)
# China time is UTC+8: 2025-03-01 00:00 there is 2025-02-28 16:00 UTC.
START, END = datetime(2025, 2, 28, 16, tzinfo=UTC), datetime(2025, 3, 31, 16, tzinfo=UTC)
KINDS = (
    "academic_credit",
    "vocational_certificate",
    "skill_certificate",
    "social_training",
    "competition_award",
    "other",
)
DEFAULT = {
    "accounts_opened": "1",
    "deposits": "0.5",
    "social_training_records": "0.2",
    "social_training_hours": "0.01",
    "turnaround_median_hours": "-0.05",
    "rejection_rate": "-10",
}
OTHER_WEIGHTS = "decided=0.3, turnaround_p90_hours=0.25,rejection_rate=-123.4567,deposits=2"
POINTS = [
    "/ZJ/B01/S001/AP000001/",
    "/ZJ/B01/S001/AP000002/",
    "/ZJ/B01/S002/AP000003/",
    "/ZJ/B01/AP000004/",  # directly under its city branch
    "/ZJ/S090/AP000005/",  # a sub-centre directly under the provincial centre
    *(f"/ZJ/B{b:02d}/S{b * 8:03d}/AP{b + 4:06d}/" for b in range(2, 12)),
]
TURNAROUND_EDGES = "/ZJ/B01/S002/AP000016/"  # 54 s: exactly 0.015 h, which rounds up
INTERPOLATED = "/ZJ/B03/S024/AP000017/"  # 36 s and 136 s: the p90 is exactly 0.035 h
SLOW = "/ZJ/B01/S002/AP000003/"  # holds one application five years in review
DECIDED = ("approved", "rejected")
LEVEL_RANK = {"province": 0, "branch": 1, "city": 1, "subcentre": 2, "county": 2, "point": 3}
_ids = itertools.count(1)
_US = timedelta(microseconds=1)


@dataclass
class World:
    """What was inserted, as the assessment counts it."""

    accounts: list[tuple[str, datetime | None]] = field(default_factory=list)
    ledger: list[tuple[str, str, Decimal, datetime]] = field(default_factory=list)
    applications: list[tuple[str, str, datetime, datetime | None]] = field(default_factory=list)


def moment(rng: random.Random) -> datetime:
    """Mostly anywhere from 5 days before the range to 5 days after; now and then exactly on
    an edge of it, or a microsecond before one."""
    if rng.random() < 0.08:
        edge = rng.choice([START, END])
        return edge - rng.choice([timedelta(0), timedelta(microseconds=1)])
    span = (END - START) + timedelta(days=10)
    return START - timedelta(days=5) + timedelta(microseconds=rng.randrange(span // _US))


def turnaround(rng: random.Random) -> timedelta:
    """Random microseconds, or whole multiples of 18 s (the half-way marks of 0.01 h)."""
    if rng.random() < 0.3:
        return timedelta(seconds=18 * rng.randrange(1, 2000))
    return timedelta(microseconds=rng.randrange(60_000_000, 10 * 86_400_000_000))


def code(path: str) -> str:
    return path.strip("/").split("/")[-1]


class Inserter:
    """Direct inserts into intake's tables, with ids of our own."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.learner_of: dict[int, int] = {}

    def account(self, path: str, opened_at: datetime | None) -> int:
        learner_id, account_id = next(_ids), next(_ids)
        self.session.execute(
            insert(Learner).values(
                id=learner_id,
                document_type="resident_id",
                document_enc=b"\x00",
                document_hash=f"{learner_id:064d}",
                document_mask="3301**********000X",
                name_enc=b"\x00",
                name_hash=f"{learner_id:064d}",
                name_mask="学*",
                phone_enc=b"\x00",
                phone_hash=f"{learner_id:064x}",
                phone_mask="139****0000",
                unit_code=code(path),
                unit_path=path,
                created_by=1,
            )
        )
        self.session.execute(
            insert(Account).values(
                id=account_id,
                learner_id=learner_id,
                number=f"ZJ2025{account_id:08d}" if opened_at else None,
                status="open" if opened_at else "pending",
                unit_code=code(path),
                unit_path=path,
                opened_at=opened_at,
            )
        )
        self.learner_of[account_id] = learner_id
        return account_id

    def application(
        self, path: str, account_id: int, status: str, created: datetime, final: datetime | None
    ) -> uuid.UUID:
        app_id = uuid.uuid4()
        self.session.execute(
            insert(Application).values(
                id=app_id,
                kind="deposit",
                outcome_kind="social_training",
                status=status,
                account_id=account_id,
                unit_code=code(path),
                unit_path=path,
                taken_by_id=1,
                taken_by="window",
                created_at=created,
                final_at=final,
            )
        )
        return app_id

    def entry(self, path: str, account_id: int, kind: str, hours: Decimal, **source: Any) -> None:
        posting.post(
            self.session,
            posting.Posting(
                account_id=account_id,
                entry_kind=EntryKind.IMPORT if "import_record_id" in source else EntryKind.DEPOSIT,
                unit_path=path,
                outcome_kind=kind,
                credits=Decimal("2.00"),
                hours=hours,
                description="generated",
                **source,
            ),
        )

    def import_records(self, path: str, account_id: int, count: int) -> list[int]:
        import_id = uuid.uuid4()
        self.session.execute(
            insert(Import).values(
                id=import_id,
                unit_code=code(path),
                unit_path=path,
                uploaded_by_id=1,
                uploaded_by="window",
                file_sha256=uuid.uuid4().hex * 2,
                filename="records.csv",
                file_format="csv",
                size=100,
                chunk_size=500,
                status="approved",
            )
        )
        ids = [next(_ids) for _ in range(count)]
        self.session.execute(
            insert(ImportRecord),
            [
                {
                    "id": record_id,
                    "import_id": import_id,
                    "row": i + 2,
                    "learner_id": self.learner_of[account_id],
                    "account_id": account_id,
                    "record_key": uuid.uuid4().hex * 2,
                    "organiser": "社区学校",
                    "programme": "插花",
                    "hours": Decimal(1),
                    "start_date": date(2025, 1, 1),
                    "end_date": date(2025, 1, 2),
                    "certificate_number": f"PX{record_id}",
                    "status": "approved",
                }
                for i, record_id in enumerate(ids)
            ],
        )
        return ids


def generate(seed: int = 20251127) -> World:
    """Accounts, applications of every status, ledger entries from applications and from
    import records, over every point, dated around and on the edges of the range."""
    rng, world = random.Random(seed), World()
    with db.transaction() as session:
        put = Inserter(session)
        accounts = {path: [] for path in POINTS}  # type: dict[str, list[int]]
        for _ in range(150):
            path = rng.choice(POINTS)
            opened = moment(rng) if rng.random() < 0.85 else None
            accounts[path].append(put.account(path, opened))
            world.accounts.append((path, opened))
        for path in POINTS:  # every point has an account to post to
            accounts[path].append(put.account(path, None))
            world.accounts.append((path, None))
        approved = []
        for _ in range(450):
            path = rng.choice(POINTS)
            status = rng.choice(["approved"] * 4 + ["rejected", "in_review", "withdrawn"])
            final = moment(rng) if status != "in_review" else None
            created = (final or moment(rng)) - turnaround(rng)
            account = rng.choice(accounts[path])
            app_id = put.application(path, account, status, created, final)
            world.applications.append((path, status, created, final))
            if status == "approved":
                approved.append((path, account, app_id))
        for path, account, app_id in approved:
            kind, hours = rng.choice(KINDS), Decimal(rng.randrange(0, 20000)) / 100
            posted = moment(rng)
            put.entry(path, account, kind, hours, application_id=app_id, posted_at=posted)
            world.ledger.append((path, kind, hours, posted))
        for path in rng.sample(POINTS, 6):
            account = rng.choice(accounts[path])
            for record_id in put.import_records(path, account, rng.randrange(3, 12)):
                hours = Decimal(rng.randrange(50, 9000)) / 100
                posted = moment(rng)
                put.entry(
                    path,
                    account,
                    "social_training",
                    hours,
                    import_record_id=record_id,
                    posted_at=posted,
                )
                world.ledger.append((path, "social_training", hours, posted))
        edge_cases(put, world)
    return world


def edge_cases(put: Inserter, world: World) -> None:
    """Turnarounds whose hours end in exactly 5 in the third decimal, and one application in
    review for five years and 7 microseconds (where binary floats lose the microseconds)."""
    final = datetime(2025, 3, 10, 8, tzinfo=UTC)
    cases = [
        (TURNAROUND_EDGES, timedelta(seconds=54)),
        (INTERPOLATED, timedelta(seconds=36)),
        (INTERPOLATED, timedelta(seconds=136)),
        (SLOW, timedelta(days=5 * 365, microseconds=7)),
    ]
    for path, took in cases:
        account = put.account(path, None)
        world.accounts.append((path, None))
        put.application(path, account, "approved", final - took, final)
        world.applications.append((path, "approved", final - took, final))


# ---- the independent count -------------------------------------------------------------


def group_of(path: str, by: str) -> str:
    """The ancestors of ``path`` at or above level ``by``, read segment by segment."""
    rank = LEVEL_RANK[by]
    kept = []
    for i, segment in enumerate(path.strip("/").split("/")):
        level = 0 if i == 0 else 3 if segment.startswith("AP") else 2 if segment[0] == "S" else 1
        if level <= rank:
            kept.append(segment)
    return "/" + "/".join(kept) + "/"


def level_word(path: str, by: str) -> str:
    names = {"/ZJ/": "province"}
    segment = code(path)
    if path in names:
        return "province"
    area = by in ("city", "county")
    if segment.startswith("AP"):
        return "point"
    if segment.startswith("S"):
        return "county" if area else "subcentre"
    return "city" if area else "branch"


def in_range(at: datetime | None, bounds: tuple[datetime, datetime] = (START, END)) -> bool:
    return at is not None and bounds[0] <= at < bounds[1]


def china_midnights(first: date, last: date) -> tuple[datetime, datetime]:
    """[first 00:00, last + 1 00:00) in China time (UTC+8, no summer time since 1991)."""
    start = datetime(first.year, first.month, first.day, tzinfo=UTC) - timedelta(hours=8)
    return start, start + timedelta(days=(last - first).days + 1)


def percentile(durations: list[int], q: Fraction) -> Fraction:
    values = sorted(durations)
    h = q * (len(values) - 1)
    low, high = math.floor(h), math.ceil(h)
    return values[low] + (h - low) * (values[high] - values[low])


def rounded(value: Fraction, places: str) -> str:
    with localcontext(prec=60):
        exact = Decimal(value.numerator) / Decimal(value.denominator)
        result = exact.quantize(Decimal(places), rounding=ROUND_HALF_UP)
    return str(result.copy_abs() if result.is_zero() else result)  # no "-0.00"


def expected(
    world: World,
    by: str,
    under: str = "/ZJ/",
    weights: dict[str, str] | None = None,
    days: tuple[date, date] = (FIRST, LAST),
) -> dict[str, dict[str, Any]]:
    """The rows the assessment should show, by group path, as the JSON shows them."""
    weights = DEFAULT if weights is None else weights
    bounds = china_midnights(*days)
    rows: dict[str, dict[str, Any]] = {}
    durations: dict[str, list[int]] = {}

    def row(path: str) -> dict[str, Any]:
        g = group_of(path, by)
        return rows.setdefault(
            g,
            {
                "unit_code": code(g),
                "level": level_word(g, by),
                "path": g,
                "accounts_opened": 0,
                "deposits": 0,
                "deposits_by_kind": dict.fromkeys(KINDS, 0),
                "social_training_records": 0,
                "social_training_hours": Decimal(0),
                "decided": 0,
                "rejected": 0,
            },
        )

    for path, opened in world.accounts:
        if path.startswith(under) and in_range(opened, bounds):
            row(path)["accounts_opened"] += 1
    for path, kind, hours, posted in world.ledger:
        if path.startswith(under) and in_range(posted, bounds):
            r = row(path)
            r["deposits"] += 1
            r["deposits_by_kind"][kind] += 1
            if kind == "social_training":
                r["social_training_records"] += 1
                r["social_training_hours"] += hours
    for path, status, created, final in world.applications:
        if path.startswith(under) and in_range(final, bounds) and status in DECIDED:
            r = row(path)
            r["decided"] += 1
            r["rejected"] += status == "rejected"
            durations.setdefault(r["path"], []).append((final - created) // _US)
    for g, r in rows.items():
        r["social_training_hours"] = f"{r['social_training_hours']:.2f}"
        spans = durations.get(g)
        hour = Fraction(3_600_000_000)
        r["turnaround_median_hours"] = (
            rounded(percentile(spans, Fraction(1, 2)) / hour, "0.01") if spans else None
        )
        r["turnaround_p90_hours"] = (
            rounded(percentile(spans, Fraction(9, 10)) / hour, "0.01") if spans else None
        )
        r["rejection_rate"] = (
            rounded(Fraction(r["rejected"], r["decided"]), "0.0001") if r["decided"] else None
        )
        r["score"] = score(r, weights)
    return rows


def score(row: dict[str, Any], weights: dict[str, str]) -> str:
    total = Fraction(0)
    for name, weight in weights.items():
        total += Fraction(weight) * Fraction(str(row[name] or 0))
    return rounded(total, "0.01")


# ---- the API ---------------------------------------------------------------------------


def province(window: Window) -> dict[str, str]:
    return window.token(unit="ZJ", path="/ZJ/", level="province", roles=("admin",), state=None)


def subcentre(window: Window, unit: str = "S001", path: str = "/ZJ/B01/S001/") -> dict[str, str]:
    return window.token(unit=unit, path=path, level="subcentre", roles=("management",), state=None)


def get(client: FlaskClient, headers: dict[str, str], **query: str) -> Any:
    query = {"from": str(FIRST), "to": str(LAST), **query}
    return client.get("/api/v1/assessment", headers=headers, query_string=query)


def same_rows(got: list[dict[str, Any]], want: dict[str, dict[str, Any]]) -> bool:
    """Every row equal to the one expected, and no row missing or extra (naming the first
    figure that differs, for a readable failure)."""
    by_path = {row["path"]: row for row in got}
    assert sorted(by_path) == sorted(want)
    for path, row in want.items():
        for name, value in row.items():
            assert by_path[path][name] == value, (path, name, by_path[path][name], value)
        assert by_path[path] == row
    return True


@pytest.fixture
def world() -> World:
    return generate()


@pytest.mark.parametrize("by", ["point", "subcentre", "county", "branch", "city", "province"])
def test_every_figure_of_every_group_matches_an_independent_count(
    window: Window, world: World, by: str
) -> None:
    r = get(window.client, province(window), by=by)
    assert r.status_code == 200, r.json
    want = expected(world, by)
    assert same_rows(r.json["rows"], want)
    assert [row["path"] for row in r.json["rows"]] == sorted(want)
    assert r.json["final"] is True and r.json["unit"] == "ZJ" and r.json["by"] == by
    assert r.json["from"] == "2025-03-01" and r.json["to"] == "2025-03-31"


@pytest.mark.parametrize(
    ("first", "last"),
    [
        (date(2025, 3, 1), date(2025, 3, 1)),
        (date(2025, 3, 2), date(2025, 3, 30)),
        (date(2025, 2, 26), date(2025, 3, 31)),
        (date(2025, 3, 1), date(2025, 4, 2)),
        (date(2025, 2, 24), date(2025, 4, 5)),
        (date(2025, 3, 31), date(2025, 4, 1)),
        (date(2024, 4, 6), date(2025, 4, 5)),
    ],
    ids=[
        "one-day-on-a-month-edge",
        "days-inside-a-month",
        "days-then-a-whole-month",
        "a-whole-month-then-days",
        "days-a-month-days",
        "across-a-month-edge",
        "a-year-ending-mid-month",
    ],
)
def test_ranges_cutting_months_give_the_independent_count(
    window: Window, world: World, first: date, last: date
) -> None:
    """The roll-ups' whole months and leftover days add up to what the entries say, for
    ranges whose ends fall anywhere in a month (the generated instants sit on and a
    microsecond before the China midnights 2025-03-01 and 2025-04-01)."""
    r = get(window.client, province(window), by="point", **{"from": str(first), "to": str(last)})
    assert r.status_code == 200, r.json
    assert same_rows(r.json["rows"], expected(world, "point", days=(first, last)))


def test_groups_without_a_unit_at_the_level_say_so(window: Window, world: World) -> None:
    by_county = {
        r["path"]: r for r in get(window.client, province(window), by="county").json["rows"]
    }
    assert by_county["/ZJ/B01/"]["level"] == "city"  # AP000004, directly under B01
    assert by_county["/ZJ/S090/"]["level"] == "county"
    by_branch = {
        r["path"]: r for r in get(window.client, province(window), by="branch").json["rows"]
    }
    assert by_branch["/ZJ/"]["level"] == "province"  # S090 has no branch
    assert by_branch["/ZJ/B01/"]["level"] == "branch"
    by_city = get(window.client, province(window), by="city").json["rows"]
    assert len(by_city) == 12  # the 11 cities, and the centre's own sub-centres


def test_edges_of_rounding_and_of_large_values(window: Window, world: World) -> None:
    rows = get(window.client, province(window), by="point").json["rows"]
    assert same_rows(rows, expected(world, "point"))
    got = {r["path"]: r for r in rows}
    # 54 s is 0.015 h exactly: half up is 0.02 (in binary floating point it is just below)
    assert got[TURNAROUND_EDGES]["turnaround_median_hours"] == "0.02"
    assert got[INTERPOLATED]["turnaround_median_hours"] == "0.02"  # 86 s
    assert got[INTERPOLATED]["turnaround_p90_hours"] == "0.04"  # 36 s + 0.9 x 100 s = 0.035 h


def test_the_same_past_range_gives_the_same_figures_later(window: Window, world: World) -> None:
    headers = province(window)
    before = {by: get(window.client, headers, by=by) for by in ("point", "county", "city")}
    csv_before = get(window.client, headers, by="county", format="csv").data
    with db.transaction() as session:
        put = Inserter(session)
        for path in POINTS:
            for at in (START - _US, END, datetime.now(UTC)):
                account = put.account(path, at)
                app_id = put.application(path, account, "approved", START - timedelta(days=3), at)
                put.entry(path, account, "other", Decimal(1), application_id=app_id, posted_at=at)
            now_account = put.account(path, None)
            session.execute(  # opened, decided and posted "now", by the database's clock
                Account.__table__.update()
                .where(Account.id == now_account)
                .values(opened_at=func.now(), status="open")
            )
            app_id = put.application(path, now_account, "rejected", START, None)
            session.execute(
                Application.__table__.update()
                .where(Application.id == app_id)
                .values(final_at=func.now())
            )
            put.entry(path, now_account, "social_training", Decimal(3), application_id=app_id)
    for by, first in before.items():
        again = get(window.client, headers, by=by)
        assert again.json == first.json
    assert get(window.client, headers, by="county", format="csv").data == csv_before
    today = datetime.now(UTC).astimezone(figures.CHINA).date()
    current = get(
        window.client,
        headers,
        by="province",
        **{"from": str(today - timedelta(days=1)), "to": str(today)},
    )
    assert current.json["final"] is False
    assert current.json["rows"][0]["deposits"] >= 2 * len(POINTS)


def test_a_subcentre_sees_its_county_only(window: Window, world: World) -> None:
    headers = subcentre(window)
    r = get(window.client, headers, by="point")
    assert r.status_code == 200 and r.json["unit"] == "S001"
    assert {row["path"]: row for row in r.json["rows"]} == expected(world, "point", "/ZJ/B01/S001/")
    county = get(window.client, headers, by="county").json
    assert [row["path"] for row in county["rows"]] == ["/ZJ/B01/S001/"]
    assert county["rows"] == list(expected(world, "county", "/ZJ/B01/S001/").values())
    one_point = get(window.client, headers, by="point", unit="AP000002").json["rows"]
    assert one_point == list(expected(world, "point", "/ZJ/B01/S001/AP000002/").values())
    for other in ("S002", "B01", "ZJ", "AP000003", "S077", "AP999999"):
        r = get(window.client, headers, by="point", unit=other)
        assert r.status_code == 404, (other, r.json)
        assert r.json["detail"] == f"unit {other} not found"


def test_a_branch_sees_its_city_and_the_centre_everything(window: Window, world: World) -> None:
    branch = window.token(unit="B01", path="/ZJ/B01/", level="branch", roles=("admin",), state=None)
    rows = get(window.client, branch, by="county").json["rows"]
    assert {r["path"]: r for r in rows} == expected(world, "county", "/ZJ/B01/")
    assert [r["path"] for r in rows] == ["/ZJ/B01/", "/ZJ/B01/S001/", "/ZJ/B01/S002/"]
    assert get(window.client, branch, by="county", unit="S090").status_code == 404
    centre = get(window.client, province(window), by="county", unit="S090").json
    assert centre["unit_path"] == "/ZJ/S090/" and len(centre["rows"]) == 1
    assert (
        get(window.client, province(window), by="city", unit="B05").json["unit_path"] == "/ZJ/B05/"
    )


def test_a_point_sees_its_own_figures_even_when_there_are_none(
    window: Window, world: World
) -> None:
    own = window.token(unit="AP000002", path="/ZJ/B01/S001/AP000002/", roles=("service",))
    rows = get(window.client, own, by="point").json["rows"]
    assert rows == list(expected(world, "point", "/ZJ/B01/S001/AP000002/").values())
    empty = window.token(unit="AP000099", path="/ZJ/B02/S016/AP000099/", roles=("service",))
    row = get(window.client, empty, by="point").json["rows"]
    assert len(row) == 1 and row[0]["path"] == "/ZJ/B02/S016/AP000099/"
    assert row[0]["accounts_opened"] == row[0]["deposits"] == row[0]["decided"] == 0
    assert row[0]["turnaround_median_hours"] is None and row[0]["rejection_rate"] is None
    assert row[0]["score"] == "0.00"


def test_the_score_with_the_default_and_with_other_weights(world: World, var_dir: Any) -> None:
    centre = Principal(1, "centre", "ZJ", "/ZJ/", "province", frozenset({"admin"}))
    other = dict(part.strip().split("=") for part in OTHER_WEIGHTS.split(","))
    for weights, spec in ((DEFAULT, None), (other, OTHER_WEIGHTS)):
        parsed = figures.parse_weights(spec) if spec else None
        with db.transaction() as session:
            report = figures.figures(session, centre, None, FIRST, LAST, "county", parsed)
        want = expected(world, "county", weights=weights)
        assert {r.path: str(r.score) for r in report.rows} == {
            path: row["score"] for path, row in want.items()
        }
    app = create_app({"assessment_weights": OTHER_WEIGHTS})
    with app.app_context():
        client = app.test_client()
        body = get(client, province(Window(client, var_dir)), by="city").json
    assert (
        body["weights"]["rejection_rate"] == "-123.4567"
        and body["weights"]["accounts_opened"] == "0"
    )
    assert {r["path"]: r["score"] for r in body["rows"]} == {
        path: row["score"] for path, row in expected(world, "city", weights=other).items()
    }


def test_the_weights_come_from_the_environment() -> None:
    settings = load_settings("intake", environ={"CB_ASSESSMENT_WEIGHTS": OTHER_WEIGHTS})
    assert figures.parse_weights(settings.assessment_weights)["decided"] == Decimal("0.3")
    assert load_settings("intake", environ={}).assessment_weights == figures.DEFAULT_WEIGHTS
    assert figures.parse_weights(figures.DEFAULT_WEIGHTS) == {
        name: Decimal(DEFAULT.get(name, "0")) for name in figures.INDICATORS
    }


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ("accounts_opened=1,acounts_closed=2", "acounts_closed"),
        ("deposits=lots", "deposits"),
        ("rejection_rate=NaN", "rejection_rate"),
        ("deposits=1,deposits=2", "deposits"),
        ("deposits", "deposits"),
    ],
)
def test_bad_weights_stop_the_app_at_start_naming_the_indicator(spec: str, named: str) -> None:
    with pytest.raises(ValueError, match=f"'?{named}'?") as caught:
        create_app({"assessment_weights": spec})
    assert "assessment_weights" in str(caught.value)


def test_exports_hold_the_json_rows_under_chinese_headers(window: Window, world: World) -> None:
    headers = province(window)
    rows = get(window.client, headers, by="county").json["rows"]
    r = get(window.client, headers, by="county", format="csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert r.headers["Content-Disposition"] == (
        'attachment; filename="assessment-ZJ-county-2025-03-01-2025-03-31.csv"'
    )
    assert r.data.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(r.data.decode("utf-8-sig"))))
    assert table[0][:5] == ["单位代码", "层级", "单位路径", "开户数", "成果存入数"]
    assert "不通过率" in table[0] and "得分" in table[0]
    assert [from_table(table[0], line, text=True) for line in table[1:]] == rows
    x = get(window.client, headers, by="county", format="xlsx")
    assert x.headers["Content-Disposition"].endswith('.xlsx"')
    book = openpyxl.load_workbook(io.BytesIO(x.data))
    sheet = [list(line) for line in book["考核数据"].iter_rows(values_only=True)]
    assert sheet[0] == table[0]
    assert [from_table(sheet[0], line, text=False) for line in sheet[1:]] == rows
    about = dict(book["说明"].iter_rows(values_only=True))
    assert about["起始日期"] == "2025-03-01" and about["单位"] == "ZJ"


def from_table(header: list[str], line: list[Any], text: bool) -> dict[str, Any]:
    """A CSV or sheet line back into the JSON row it came from."""
    names = {
        "单位代码": "unit_code",
        "层级": "level",
        "单位路径": "path",
        "开户数": "accounts_opened",
        "成果存入数": "deposits",
        "社会培训记录数": "social_training_records",
        "社会培训学时": "social_training_hours",
        "办结申请数": "decided",
        "不予通过数": "rejected",
        "审核时长中位数（小时）": "turnaround_median_hours",
        "审核时长第90百分位（小时）": "turnaround_p90_hours",
        "不通过率": "rejection_rate",
        "得分": "score",
    }
    kinds = dict(
        zip(
            ["学历教育学分", "职业资格证书", "职业技能等级证书", "社会培训", "竞赛获奖", "其他"],
            KINDS,
            strict=True,
        )
    )
    decimals = {
        "social_training_hours": "0.01",
        "turnaround_median_hours": "0.01",
        "turnaround_p90_hours": "0.01",
        "rejection_rate": "0.0001",
        "score": "0.01",
    }
    row: dict[str, Any] = {"deposits_by_kind": {}}
    for head, value in zip(header, line, strict=True):
        if head.startswith("存入数："):
            row["deposits_by_kind"][kinds[head.split("：")[1]]] = int(value)
            continue
        name = names[head]
        if value in ("", None):
            row[name] = None
        elif name in decimals:
            row[name] = str(Decimal(str(value)).quantize(Decimal(decimals[name])))
        elif name in ("unit_code", "level", "path"):
            row[name] = value
        else:
            row[name] = int(value)
    return row


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": None}, "from"),
        ({"to": None}, "to"),
        ({"by": None}, "by"),
        ({"from": "2025-02-30"}, "from"),
        ({"to": "31/03/2025"}, "to"),
        ({"from": "2025-04-01"}, "to"),  # after to
        ({"from": "2024-03-30"}, "to"),  # 367 days
        ({"by": "district"}, "by"),
        ({"format": "pdf"}, "format"),
        ({"unit": "S1"}, "unit"),
        ({"unit": "s001"}, "unit"),
        ({"page": "2"}, "page"),
        ({"by": "branch", "unit": "S001"}, "by"),  # above the unit asked for
    ],
)
def test_bad_input_is_422_naming_the_field(
    window: Window, query: dict[str, Any], field: str
) -> None:
    params = {"from": str(FIRST), "to": str(LAST), "by": "county", **query}
    params = {k: v for k, v in params.items() if v is not None}
    r = window.client.get("/api/v1/assessment", headers=province(window), query_string=params)
    assert r.status_code == 422, r.json
    assert [(e["field"], e["location"]) for e in r.json["errors"]] == [(field, "query")]


def test_a_full_year_is_allowed_and_a_point_cannot_group_above_itself(window: Window) -> None:
    headers = province(window)
    assert (
        get(
            window.client, headers, by="city", **{"from": "2024-01-01", "to": "2024-12-31"}
        ).status_code
        == 200
    )
    point = window.token()
    r = get(window.client, point, by="county")
    assert r.status_code == 422 and r.json["errors"][0]["field"] == "by"
    assert (
        window.client.get("/api/v1/assessment?from=2025-03-01&to=2025-03-31&by=point").status_code
        == 401
    )
