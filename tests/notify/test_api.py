"""The staff inbox, the delivery log and the dead letters over HTTP, scoped like everything
else."""

from __future__ import annotations

import uuid

import pytest
from flask import Flask
from sqlalchemy import update

from services.notify import delivery
from services.notify.context import worker_db
from services.notify.models import Delivery, DeliveryStatus
from tests.factories import TokenFactory
from tests.notify.conftest import event

POINT = ("AP000001", "/ZJ/B01/S001/AP000001/", "acceptance_point")


@pytest.fixture
def client(notify_app: Flask):
    return notify_app.test_client()


@pytest.fixture
def tokens(var_dir) -> TokenFactory:
    return TokenFactory(var_dir)


def accept(message: dict) -> None:
    with worker_db().transaction() as session:
        delivery.accept(session, message)


@pytest.fixture
def inboxes(tokens) -> dict[str, dict[str, str]]:
    """A decision told to staff 51 by name and to AP000001's window staff, an overdue
    reminder to S001's reviewers; the headers of each of them and of a stranger."""
    accept(event(recipient_staff_ids=[51]))  # by name, and to the point's window staff
    accept(
        event(
            "review.cases_overdue",
            unit_code="S001",
            unit_path="/ZJ/B01/S001/",
            data={"level": "subcentre", "overdue": 3, "oldest_due_at": "2026-11-20T09:00:00+00:00"},
        )
    )
    return {
        "named": tokens.make(*POINT, staff_id=51, roles=("management",)),
        "window": tokens.make(*POINT, staff_id=52, roles=("service",)),
        "reviewer": tokens.make("S001", "/ZJ/B01/S001/", "subcentre", staff_id=53),
        "stranger": tokens.make(
            "AP000002", "/ZJ/B01/S001/AP000002/", "acceptance_point", roles=("service",)
        ),
    }


def test_the_inbox_holds_what_is_addressed_to_me_or_my_role(client, inboxes) -> None:
    named, window = inboxes["named"], inboxes["window"]
    reviewer, stranger = inboxes["reviewer"], inboxes["stranger"]
    mine = client.get("/api/v1/inbox", headers=named).json
    assert (mine["total"], mine["unread"]) == (1, 1)
    assert mine["items"][0]["subject"] == "申请已通过"
    assert client.get("/api/v1/inbox", headers=window).json["total"] == 1
    overdue = client.get("/api/v1/inbox", headers=reviewer).json
    assert overdue["items"][0]["subject"] == "有 3 件审核已超期"
    assert "2026-11-20 17:00" in overdue["items"][0]["body"]
    assert client.get("/api/v1/inbox", headers=stranger).json["total"] == 0


def test_an_item_read_is_read_for_me_only(client, inboxes) -> None:
    named, window = inboxes["named"], inboxes["window"]
    item = client.get("/api/v1/inbox", headers=named).json["items"][0]["id"]
    assert client.post(f"/api/v1/inbox/{item}/read", headers=named).status_code == 204
    assert client.post(f"/api/v1/inbox/{item}/read", headers=named).status_code == 204
    after = client.get("/api/v1/inbox", headers=named).json
    assert after["unread"] == 0 and after["items"][0]["read"] is True
    assert client.get("/api/v1/inbox?unread=true", headers=named).json["total"] == 0
    assert client.get("/api/v1/inbox", headers=window).json["unread"] == 1  # read is per person


def test_an_item_of_someone_elses_inbox_cannot_be_marked_read(client, inboxes) -> None:
    item = client.get("/api/v1/inbox", headers=inboxes["named"]).json["items"][0]["id"]
    assert client.post(f"/api/v1/inbox/{item}/read", headers=inboxes["stranger"]).status_code == 404
    assert client.get("/api/v1/inbox", headers=inboxes["named"]).json["unread"] == 1  # still


def test_an_unread_filter_that_is_not_a_boolean_is_422(client, inboxes) -> None:
    assert client.get("/api/v1/inbox?unread=maybe", headers=inboxes["named"]).status_code == 422


def test_the_delivery_log_is_scoped_to_my_subtree(client, tokens) -> None:
    accept(event(recipient_staff_ids=[61]))
    accept(event(unit_code="AP000009", unit_path="/ZJ/B05/S060/AP000009/"))
    branch = tokens.make("B01", "/ZJ/B01/", "branch")
    log = client.get("/api/v1/deliveries", headers=branch).json
    assert log["total"] == 2 and {d["unit_code"] for d in log["items"]} == {"AP000001"}
    province = tokens.make("ZJ", "/ZJ/", "province")
    assert client.get("/api/v1/deliveries?status=sent", headers=province).json["total"] == 3


def test_a_delivery_log_of_an_unknown_channel_is_422(client, tokens) -> None:
    province = tokens.make("ZJ", "/ZJ/", "province")
    r = client.get("/api/v1/deliveries?channel=fax", headers=province)
    assert r.status_code == 422 and r.json["errors"][0]["field"] == "channel"


def delivery_status(delivery_id: str) -> str:
    with worker_db().transaction() as session:
        return session.get_one(Delivery, uuid.UUID(delivery_id)).status.value


@pytest.fixture
def dead_letters(client, tokens) -> list[str]:
    """Two deliveries to AP000001's staff, dead; their ids as S001 lists them."""
    accept(event(recipient_staff_ids=[71]))
    with worker_db().transaction() as session:
        session.execute(update(Delivery).values(status=DeliveryStatus.DEAD, last_error="gone"))
    sub = tokens.make("S001", "/ZJ/B01/S001/", "subcentre", roles=("reviewer",))
    return [d["id"] for d in client.get("/api/v1/dead-letters", headers=sub).json["deliveries"]]


def test_dead_letters_are_listed(client, tokens, dead_letters) -> None:
    sub = tokens.make("S001", "/ZJ/B01/S001/", "subcentre", roles=("reviewer",))
    dead = client.get("/api/v1/dead-letters", headers=sub).json
    assert len(dead["deliveries"]) == 2 and dead["refused_events"] == []


def test_dead_letters_are_redriven_by_an_admin_only(client, tokens, dead_letters) -> None:
    target = dead_letters[0]
    sub = tokens.make("S001", "/ZJ/B01/S001/", "subcentre", roles=("reviewer",))
    assert client.post(f"/api/v1/dead-letters/{target}/redrive", headers=sub).status_code == 403
    assert delivery_status(target) == "dead"
    admin = tokens.make("S001", "/ZJ/B01/S001/", "subcentre", roles=("admin",))
    r = client.post(f"/api/v1/dead-letters/{target}/redrive", headers=admin)
    assert r.status_code == 200 and r.json["status"] == "pending" and r.json["attempts"] == 0


def test_a_redriven_letter_cannot_be_redriven_again(client, tokens, dead_letters) -> None:
    target = dead_letters[0]
    admin = tokens.make("S001", "/ZJ/B01/S001/", "subcentre", roles=("admin",))
    assert client.post(f"/api/v1/dead-letters/{target}/redrive", headers=admin).status_code == 200
    r = client.post(f"/api/v1/dead-letters/{target}/redrive", headers=admin)
    assert r.status_code == 409 and r.json["current_state"] == "pending"


def test_a_dead_letter_outside_the_subtree_is_404(client, tokens, dead_letters) -> None:
    elsewhere = tokens.make("S060", "/ZJ/B05/S060/", "subcentre", roles=("admin",))
    other = dead_letters[1]
    assert (
        client.post(f"/api/v1/dead-letters/{other}/redrive", headers=elsewhere).status_code == 404
    )
    assert delivery_status(other) == "dead"
    admin = tokens.make("S001", "/ZJ/B01/S001/", "subcentre", roles=("admin",))
    assert client.post(f"/api/v1/dead-letters/{other}/redrive", headers=admin).status_code == 200
