"""Webhooks registered by front ends: HTTPS only outside local development, events of the
unit's subtree, each delivery signed (HMAC-SHA256 over timestamp and body) and checked by a
real receiver on loopback; and per-channel rate limits."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from typing import Any

import pytest
import redis
from sqlalchemy import func, select

from services.notify import delivery
from services.notify.app import create_app
from services.notify.channels import webhook
from services.notify.context import worker_db
from services.notify.models import Delivery, Webhook
from services.notify.ratelimit import RateLimiter, parse_limits
from tests.factories import TokenFactory
from tests.helpers import QuietHandler
from tests.notify.conftest import context, event

POINT = ("AP000001", "/ZJ/B01/S001/AP000001/", "acceptance_point")


class Receiver:
    """A front end's endpoint on loopback that checks every signature with its secret."""

    def __init__(self) -> None:
        self.secret = ""
        self.received: list[dict[str, Any]] = []
        receiver = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ok = webhook.verify(
                    receiver.secret,
                    self.headers["X-CreditBank-Timestamp"],
                    body,
                    self.headers["X-CreditBank-Signature"],
                )
                receiver.received.append(
                    {"ok": ok, "id": self.headers["X-CreditBank-Delivery"], **json.loads(body)}
                )
                self.send_response(200 if ok else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    thread = threading.Thread(target=r.server.serve_forever, daemon=True)
    thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


def register(client, headers, url: str, types=("review.application_decided",)):
    return client.post(
        "/api/v1/webhooks", headers=headers, json={"url": url, "event_types": list(types)}
    )


def webhooks() -> int:
    with worker_db().transaction() as session:
        return int(session.scalar(select(func.count()).select_from(Webhook)) or 0)


def send_due() -> list[str]:
    ctx = context()
    with worker_db().transaction() as session:
        ids = delivery.due(session)
    outcomes = []
    for delivery_id in ids:
        outcomes.append(delivery.attempt(worker_db(), ctx, delivery_id))
    return outcomes


def test_a_registration_answers_its_secret_once(notify_app, receiver, var_dir) -> None:
    client = notify_app.test_client()
    tech = TokenFactory(var_dir).make(*POINT, roles=("technical",))
    r = register(client, tech, receiver.url)
    assert r.status_code == 201, r.json
    assert len(r.json["secret"]) == 64
    listed = client.get("/api/v1/webhooks", headers=tech).json["items"]
    assert [h["id"] for h in listed] == [r.json["id"]] and "secret" not in listed[0]


@pytest.fixture
def hooked(notify_app, receiver, var_dir) -> dict[str, Any]:
    """AP000001's technical staff registered the receiver for decisions; the receiver knows
    the secret."""
    client = notify_app.test_client()
    tech = TokenFactory(var_dir).make(*POINT, roles=("technical",))
    r = register(client, tech, receiver.url)
    assert r.status_code == 201, r.json
    receiver.secret = r.json["secret"]
    return {"client": client, "tech": tech, "id": r.json["id"]}


def test_the_webhook_gets_its_units_events_of_its_types_signed(receiver, hooked) -> None:
    decided = event()
    with worker_db().transaction() as session:
        delivery.accept(session, decided)
        delivery.accept(session, event(unit_code="AP000009", unit_path="/ZJ/B05/S060/AP000009/"))
        delivery.accept(
            session,
            event(
                "review.cases_overdue",
                data={
                    "level": "subcentre",
                    "overdue": 1,
                    "oldest_due_at": "2026-11-20T09:00:00+00:00",
                },
            ),
        )
    assert send_due() == ["sent"]  # only its unit's event, only the type it asked for
    (got,) = receiver.received
    assert got["ok"] is True and got["event_id"] == str(decided["message_id"])
    assert (
        got["event_type"] == "review.application_decided" and got["data"]["outcome"] == "approved"
    )
    with worker_db().transaction() as session:
        (row,) = session.scalars(select(Delivery).where(Delivery.channel == "webhook")).all()
        assert got["id"] == str(row.id)


def test_a_receiver_refusing_the_signature_is_a_dead_delivery(receiver, hooked) -> None:
    # A receiver with the wrong secret refuses (401): permanent, dead-lettered, not retried.
    receiver.secret = "not-the-secret"
    with worker_db().transaction() as session:
        delivery.accept(session, event())
    assert send_due() == ["dead"]


def test_a_deleted_webhook_gets_nothing(hooked) -> None:
    client, tech = hooked["client"], hooked["tech"]
    assert client.delete(f"/api/v1/webhooks/{hooked['id']}", headers=tech).status_code == 204
    with worker_db().transaction() as session:
        assert delivery.accept(session, event()) == []  # deleted: nothing planned for it
    assert send_due() == []


@pytest.mark.parametrize(
    ("url", "types", "field"),
    [
        ("http://front.example.com/hook", ["review.application_decided"], "url"),
        ("https://front.example.com/hook", ["nobody.knows"], "event_types.0"),
        ("ftp://front.example.com/hook", ["review.application_decided"], None),
    ],
    ids=["plain-http-off-loopback", "unknown-event-type", "not-http"],
)
def test_a_registration_refused_names_the_field(
    notify_app, var_dir, url: str, types: list[str], field: str | None
) -> None:
    tech = TokenFactory(var_dir).make(*POINT, roles=("technical",))
    r = register(notify_app.test_client(), tech, url, types=types)
    assert r.status_code == 422
    if field is not None:
        assert r.json["errors"][0]["field"] == field
    assert webhooks() == 0


def test_only_technical_staff_register_webhooks(notify_app, var_dir) -> None:
    window = TokenFactory(var_dir).make(*POINT, roles=("service",))
    client = notify_app.test_client()
    assert register(client, window, "https://front.example.com/hook").status_code == 403
    assert webhooks() == 0
    tech = TokenFactory(var_dir).make(*POINT, roles=("technical",))
    assert register(client, tech, "https://front.example.com/hook").status_code == 201
    assert webhooks() == 1


def test_in_production_only_https_is_taken(var_dir) -> None:
    tech = TokenFactory(var_dir).make(*POINT, roles=("technical",))
    production = create_app({"env": "production"}).test_client()
    r = register(production, tech, "http://127.0.0.1:9000/hook")
    assert r.status_code == 422 and "https" in r.json["errors"][0]["reason"]
    assert register(production, tech, "https://front.example.com/hook").status_code == 201


def test_signature_scheme_rejects_tampering_and_replays() -> None:
    body = b'{"event_id": "x"}'
    header = webhook.signature("s3cret", 1_764_230_400, body)
    assert webhook.verify("s3cret", "1764230400", body, header, now=1_764_230_400)
    assert not webhook.verify("s3cret", "1764230400", body + b" ", header, now=1_764_230_400)
    assert not webhook.verify("other", "1764230400", body, header, now=1_764_230_400)
    assert not webhook.verify("s3cret", "1764230400", body, header, now=1_764_230_400 + 301)


def test_rate_limits_defer_without_spending_an_attempt(run_env) -> None:
    limiter = RateLimiter(
        redis.Redis.from_url(run_env["CB_REDIS_URL"]), parse_limits("sms=2"), "cbtest:rate"
    )
    time.sleep(1.01 - time.time() % 1)  # at the start of a one-second window
    waits = [limiter.wait_for("sms") for _ in range(3)]
    assert waits[:2] == [0.0, 0.0] and 0 < waits[2] <= 1.0
    assert limiter.wait_for("inbox") == 0.0  # no limit named


def test_a_rate_that_is_not_a_number_is_refused() -> None:
    with pytest.raises(ValueError, match="channel=<messages per second>"):
        parse_limits("sms=fast")


def test_a_delivery_over_the_rate_waits_for_the_next_window(var_dir) -> None:
    from tests.notify.conftest import sealed_phone

    ctx = context(notify_rate_limits="sms=1")
    ids = []
    with worker_db().transaction() as session:
        for _ in range(2):
            ids += delivery.accept(
                session,
                event(
                    "intake.application_decided",
                    data={"kind": "deposit", "outcome": "approved"},
                    sealed={"phone": sealed_phone(var_dir)},
                ),
            )
    time.sleep(1.01 - time.time() % 1)
    outcomes = []
    for delivery_id in ids:
        outcomes.append(delivery.attempt(worker_db(), ctx, delivery_id))
    assert outcomes == ["sent", "limited"]
    with worker_db().transaction() as session:
        later = session.get(Delivery, ids[1])
        assert later is not None and later.attempts == 0 and later.status.value == "pending"


def start_of_a_window() -> None:
    time.sleep(1.01 - time.time() % 1)


@pytest.mark.parametrize(
    ("counted", "batch", "goes"),
    [
        (0, ["sms", "sms"], "++"),
        (1, ["sms", "sms", "sms", "sms"], "++--"),
        (3, ["sms", "sms"], "--"),
        (2, ["webhook", "sms", "inbox", "webhook", "sms", "webhook"], "-++---"),
    ],
    ids=["under-the-limit", "across-the-limit", "over-it-already", "channels-mixed"],
)
def test_a_batch_is_admitted_as_its_messages_would_be_one_by_one(
    run_env, counted: int, batch: list[str], goes: str
) -> None:
    """sms=3 and webhook=2 a second, ``counted`` of each counted already in the window; a
    batch's messages go (+) or wait for the next window (-) as asked for one at a time."""
    client = redis.Redis.from_url(run_env["CB_REDIS_URL"])
    one_by_one, batched = (
        RateLimiter(client, parse_limits("sms=3,webhook=2"), f"cbtest:rate:{name}")
        for name in ("single", "batch")
    )
    start_of_a_window()
    for limiter in (one_by_one, batched):
        for _ in range(counted):
            limiter.wait_for("sms"), limiter.wait_for("webhook")
    singly = [one_by_one.wait_for(channel) for channel in batch]
    waits = batched.admit(batch)
    assert "".join("-" if wait else "+" for wait in singly) == goes
    assert "".join("-" if wait else "+" for wait in waits) == goes
    assert all(0 < wait <= 1.0 for wait in waits if wait)  # the next window


def test_a_burst_sent_as_one_batch_goes_out_at_the_limit(var_dir) -> None:
    from tests.notify.conftest import sealed_phone

    ctx = context(notify_rate_limits="sms=2")
    with worker_db().transaction() as session:
        ids = [
            delivery.accept(
                session,
                event(
                    "intake.application_decided",
                    data={"kind": "deposit", "outcome": "approved"},
                    sealed={"phone": sealed_phone(var_dir)},
                ),
            )[0]
            for _ in range(4)
        ]
    start_of_a_window()
    outcomes = delivery.attempt_many(worker_db(), ctx, ids)
    assert [outcomes[i] for i in ids] == ["sent", "sent", "limited", "limited"]
    with worker_db().transaction() as session:
        limited = [session.get(Delivery, i) for i in ids[2:]]
        assert all(
            d is not None and d.attempts == 0 and d.status.value == "pending" for d in limited
        )
