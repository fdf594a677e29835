"""Deciding many cases at once, each on its own; the route table edited by the provincial
centre, versioned, with open applications keeping their version."""

from __future__ import annotations

import uuid

from sqlalchemy import event, func, select

from services.review import cases
from services.review.context import worker_context, worker_db
from services.review.models import Case, Outbox, Route
from services.review.routing import DEFAULT_ROUTES
from shared import contracts
from shared.levels import Level
from tests.review.conftest import opened

POINT = ("AP000001", "/ZJ/B01/S001/AP000001/", "acceptance_point")
PROVINCE_ADMIN = ("ZJ", "/ZJ/", "province")


def test_many_decisions_each_reported_on_its_own(client, token) -> None:
    good, returned, taken, done = opened(), opened(), opened(taken_by_id=31), opened()
    me = token(*POINT, staff_id=31)
    assert (
        client.post(
            f"/api/v1/cases/{done.id}/decision", headers=me, json={"decision": "approve"}
        ).status_code
        == 200
    )
    missing = uuid.uuid4()
    r = client.post(
        "/api/v1/cases/decisions",
        headers=me,
        json={
            "decisions": [
                {"case_id": str(good.id), "decision": "approve"},
                {"case_id": str(returned.id), "decision": "return", "reason": "缺少结业证书"},
                {"case_id": str(taken.id), "decision": "approve"},  # the taker cannot approve
                {"case_id": str(done.id), "decision": "approve"},  # decided already
                {"case_id": str(missing), "decision": "approve"},
                {"case_id": str(good.id), "decision": "reject"},  # no reason; decided anyway
            ]
        },
    )
    assert r.status_code == 200, r.json
    statuses = [(x["case_id"], x["status"]) for x in r.json["results"]]
    assert statuses == [
        (str(good.id), 200),
        (str(returned.id), 200),
        (str(taken.id), 403),
        (str(done.id), 409),
        (str(missing), 404),
        (str(good.id), 409),
    ]
    assert (r.json["decided"], r.json["refused"]) == (2, 4)
    assert r.json["results"][0]["case"]["decision"] == "approve"
    assert r.json["results"][3]["problem"]["current_state"] == "decided"
    # A refused case of the unit comes with who decided it meanwhile; a stranger's, with none.
    assert r.json["results"][3]["case"]["decided_by"] == "rap000001"
    assert r.json["results"][2]["case"]["id"] == str(taken.id)
    assert r.json["results"][4]["case"] is None
    with worker_db().transaction() as session:
        still_open = session.get(Case, taken.id)
        assert still_open is not None and still_open.decision is None


def test_a_malformed_decision_in_a_batch_refuses_it_whole(client, token) -> None:
    case = opened()
    me = token(*POINT)
    r = client.post(
        "/api/v1/cases/decisions",
        headers=me,
        json={
            "decisions": [
                {"case_id": str(case.id), "decision": "approve"},
                {"case_id": "x", "decision": "maybe"},
            ]
        },
    )
    assert r.status_code == 422
    assert {e["field"] for e in r.json["errors"]} == {"decisions.1.case_id", "decisions.1.decision"}
    with worker_db().transaction() as session:
        assert session.get(Case, case.id).decision is None  # type: ignore[union-attr]


def test_an_empty_batch_is_422(client, token) -> None:
    me = token(*POINT)
    assert (
        client.post("/api/v1/cases/decisions", headers=me, json={"decisions": []}).status_code
        == 422
    )


TABLE = [
    {"kind": "account_opening", "top_level": "acceptance_point"},
    {"kind": "deposit", "top_level": "branch", "escalate_over_credits": "5.00"},
    {"kind": "deposit", "outcome_kind": "social_training", "top_level": "acceptance_point"},
]


def route_count() -> int:
    with worker_db().transaction() as session:
        return int(session.scalar(select(func.count()).select_from(Route)) or 0)


def test_only_a_provincial_admin_edits_the_route_table(client, token) -> None:
    count = route_count()
    branch_admin = token("B01", "/ZJ/B01/", "branch", roles=("admin",))
    assert (
        client.put("/api/v1/routes", headers=branch_admin, json={"routes": TABLE}).status_code
        == 403
    )
    province_reviewer = token(*PROVINCE_ADMIN, roles=("reviewer",))
    assert (
        client.put("/api/v1/routes", headers=province_reviewer, json={"routes": TABLE}).status_code
        == 403
    )
    assert route_count() == count  # nothing half-written


def test_a_route_table_naming_a_route_twice_is_422(client, token) -> None:
    count = route_count()
    admin = token(*PROVINCE_ADMIN, roles=("admin",))
    r = client.put("/api/v1/routes", headers=admin, json={"routes": [*TABLE, TABLE[0]]})
    assert r.status_code == 422 and r.json["errors"][0]["field"] == "routes.3"
    assert route_count() == count  # nothing half-written


def test_a_route_table_with_unknown_values_is_422_naming_each(client, token) -> None:
    count = route_count()
    admin = token(*PROVINCE_ADMIN, roles=("admin",))
    r = client.put(
        "/api/v1/routes",
        headers=admin,
        json={"routes": [{"kind": "deposit", "top_level": "county", "outcome_kind": "gift"}]},
    )
    assert r.status_code == 422
    assert {e["field"] for e in r.json["errors"]} == {"routes.0.top_level", "routes.0.outcome_kind"}
    assert route_count() == count  # nothing half-written


def test_a_new_route_table_routes_new_applications_only(client, token) -> None:
    before = opened()  # routed under version 1: up to the sub-centre
    current = client.get("/api/v1/routes", headers=token(*POINT)).json
    assert current["version"] == 1 and len(current["routes"]) == len(DEFAULT_ROUTES)
    admin = token(*PROVINCE_ADMIN, roles=("admin",))
    r = client.put("/api/v1/routes", headers=admin, json={"routes": TABLE})
    assert r.status_code == 200 and r.json["version"] == 2 and len(r.json["routes"]) == 3
    after = opened()
    assert (before.route_version, before.top_level) == (1, Level.SUBCENTRE)
    assert (after.route_version, after.top_level) == (2, Level.ACCEPTANCE_POINT)
    # The next level of an application opened under version 1 keeps version 1.
    upper = opened(level="subcentre", application_id=str(before.application_id))
    assert (upper.route_version, upper.top_level) == (1, Level.SUBCENTRE)


def test_every_version_of_the_route_table_stays_readable(client, token) -> None:
    admin = token(*PROVINCE_ADMIN, roles=("admin",))
    assert client.put("/api/v1/routes", headers=admin, json={"routes": TABLE}).status_code == 200
    old = client.get("/api/v1/routes?version=1", headers=token(*POINT)).json
    assert old["version"] == 1 and len(old["routes"]) == len(DEFAULT_ROUTES)
    assert client.get("/api/v1/routes?version=9", headers=token(*POINT)).status_code == 404


def test_the_next_level_is_opened_under_the_route_the_round_began_with(client, token) -> None:
    """A pass-up's message names the route version and last level of the round: the next
    case keeps them without looking them up, even once the table has changed."""
    first = opened(credits="4.00", outcome_kind="academic_credit")  # over 3 credits: branch
    assert (first.route_version, first.top_level) == (1, Level.BRANCH)
    admin = token(*PROVINCE_ADMIN, roles=("admin",))
    assert client.put("/api/v1/routes", headers=admin, json={"routes": TABLE}).status_code == 200
    assert (
        client.post(
            f"/api/v1/cases/{first.id}/decision",
            headers=token(*POINT),
            json={"decision": "approve"},
        ).json["status"]
        == "decided"
    )
    with worker_db().transaction() as session:
        (message,) = session.scalars(
            select(Outbox.payload).where(Outbox.task_name == "review.open_case")
        ).all()
    assert (message["route_version"], message["top_level"]) == (1, "branch")
    statements: list[str] = []
    engine = worker_db().engine

    def seen(conn, cursor, statement, *_args) -> None:
        statements.append(statement.split()[0])

    event.listen(engine, "before_cursor_execute", seen)
    try:
        with worker_db().transaction() as session:
            upper = cases.open_case(
                session, worker_context(), contracts.load("review.open_case", message)
            )
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert upper is not None and upper.level == Level.SUBCENTRE
    assert (upper.route_version, upper.top_level) == (1, Level.BRANCH)
    # the certificate check's SELECT and the INSERT: no route look-up, no second read
    assert statements == ["SELECT", "INSERT"]
