"""The staff inbox, the delivery log and the dead letters over HTTP, scoped like everything
else."""

from __future__ import annotations

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


def test_the_inbox_holds_what_is_addressed_to_me_or_my_role(client, tokens) -> None:
    accept(event(recipient_staff_ids=[51]))  # by name, and to the point's window staff
    accept(
        event(
            "review.cases_overdue",
            unit_code="S001",
            unit_path="/ZJ/B01/S001/",
            data={"level": "subcentre", "overdue": 3, "oldest_due_at": "2026-11-20T09:00:00+00:00"},
        )
    )
    named = tokens.make(*POINT, staff_id=51, roles=("management",))
    window = tokens.make(*POINT, staff_id=52, roles=("service",))
    reviewer = tokens.make("S001", "/ZJ/B01/S001/", "subcentre", staff_id=53)
    stranger = tokens.make(
        "AP000002", "/ZJ/B01/S001/AP000002/", "acceptance_point", roles=("service",)
    )
    mine = client.get("/api/v1/inbox", headers=named).json
    assert (mine["total"], mine["unread"]) == (1, 1)
    assert mine["items"][0]["subject"] == "申请已通过"
    assert client.get("/api/v1/inbox", headers=window).json["total"] == 1
    overdue = client.get("/api/v1/inbox", headers=reviewer).json
    assert overdue["items"][0]["subject"] == "有 3 件审核已超期"
    assert "2026-11-20 17:00" in overdue["items"][0]["body"]
    assert client.get("/api/v1/inbox", headers=stranger).json["total"] == 0
    item = mine["items"][0]["id"]
    assert client.post(f"/api/v1/inbox/{item}/read", headers=named).status_code == 204
    assert client.post(f"/api/v1/inbox/{item}/read", headers=named).status_code == 204
    after = client.get("/api/v1/inbox", headers=named).json
    assert after["unread"] == 0 and after["items"][0]["read"] is True
    assert client.get("/api/v1/inbox?unread=true", headers=named).json["total"] == 0
    assert client.get("/api/v1/inbox", headers=window).json["unread"] == 1  # read is per person
    assert client.post(f"/api/v1/inbox/{item}/read", headers=stranger).status_code == 404
    assert client.get("/api/v1/inbox?unread=maybe", headers=named).status_code == 422


def test_the_delivery_log_is_scoped_to_my_subtree(client, tokens) -> None:
    accept(event(recipient_staff_ids=[61]))
    accept(event(unit_code="AP000009", unit_path="/ZJ/B05/S060/AP000009/"))
    branch = tokens.make("B01", "/ZJ/B01/", "branch")
    log = client.get("/api/v1/deliveries", headers=branch).json
    assert log["total"] == 2 and {d["unit_code"] for d in log["items"]} == {"AP000001"}
    province = tokens.make("ZJ", "/ZJ/", "province")
    assert client.get("/api/v1/deliveries?status=sent", headers=province).json["total"] == 3
    r = client.get("/api/v1/deliveries?channel=fax", headers=province)
    assert r.status_code == 422 and r.json["errors"][0]["field"] == "channel"


def test_dead_letters_are_listed_and_redriven_by_an_admin(client, tokens) -> None:
    accept(event(recipient_staff_ids=[71]))
    with worker_db().transaction() as session:
        session.execute(update(Delivery).values(status=DeliveryStatus.DEAD, last_error="gone"))
    sub = tokens.make("S001", "/ZJ/B01/S001/", "subcentre", roles=("reviewer",))
    dead = client.get("/api/v1/dead-letters", headers=sub).json
    assert len(dead["deliveries"]) == 2 and dead["refused_events"] == []
    target = dead["deliveries"][0]["id"]
    assert client.post(f"/api/v1/dead-letters/{target}/redrive", headers=sub).status_code == 403
    admin = tokens.make("S001", "/ZJ/B01/S001/", "subcentre", roles=("admin",))
    r = client.post(f"/api/v1/dead-letters/{target}/redrive", headers=admin)
    assert r.status_code == 200 and r.json["status"] == "pending" and r.json["attempts"] == 0
    r = client.post(f"/api/v1/dead-letters/{target}/redrive", headers=admin)
    assert r.status_code == 409 and r.json["current_state"] == "pending"
    elsewhere = tokens.make("S060", "/ZJ/B05/S060/", "subcentre", roles=("admin",))
    other = dead["deliveries"][1]["id"]
    assert (
        client.post(f"/api/v1/dead-letters/{other}/redrive", headers=elsewhere).status_code == 404
    )
