"""Deliveries planned once per event, recipient and channel; SMS through a real HTTP gateway
on loopback with retries held in the database, dead letters and redrive."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update

from services.notify import delivery
from services.notify.context import worker_db
from services.notify.models import Delivery, DeliveryStatus, InboxItem
from shared import sealing
from shared.db import utcnow
from tests.helpers import free_port
from tests.notify.conftest import context, event, sealed_phone


def accept(message: dict) -> list:
    with worker_db().transaction() as session:
        return delivery.accept(session, message)


def attempt(ctx, delivery_id) -> str:
    return delivery.attempt(worker_db(), ctx, delivery_id)


def deliveries() -> list[Delivery]:
    with worker_db().transaction() as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.recipient)))


def make_due(delivery_id) -> None:
    with worker_db().transaction() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id)
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )


def learner_decision(var_dir, outcome: str = "approved") -> dict:
    return event(
        "intake.application_decided",
        data={"kind": "deposit", "outcome": outcome, "level": "subcentre"},
        sealed={"phone": sealed_phone(var_dir)},
    )


def test_each_recipient_and_channel_once_however_often_the_event_comes(var_dir) -> None:
    decided = event(recipient_staff_ids=[41, 41, 42])
    assert accept(decided) == []  # inbox only: delivered at once, nothing left to send
    assert accept(decided) == [] and accept(dict(decided)) == []
    rows = deliveries()
    assert [(d.recipient, d.channel.value, d.status.value) for d in rows] == [
        ("staff:41", "inbox", "sent"),
        ("staff:42", "inbox", "sent"),
        ("unit:AP000001:service", "inbox", "sent"),  # the window staff of the point
    ]
    assert rows[0].subject == "申请已通过" and "分中心审核已通过" in rows[0].body
    with worker_db().transaction() as session:
        assert session.scalar(select(func.count()).select_from(InboxItem)) == 3


def test_the_learner_hears_by_sms_with_only_a_masked_number_at_rest(var_dir) -> None:
    message = learner_decision(var_dir, "returned")
    message["data"]["reason"] = "证书照片不清晰"
    (sms_id,) = accept(message)
    ctx = context()  # the file provider, as in local runs
    assert attempt(ctx, sms_id) == "sent"
    written = (var_dir / "sms" / f"{sms_id}.txt").read_text()
    assert "to: 138****5678" in written and "13812345678" not in written
    assert "需补正材料" in written and "证书照片不清晰" in written
    (row,) = [d for d in deliveries() if d.channel.value == "sms"]
    assert "13812345678" not in (row.sealed_address or "") + row.body
    assert attempt(ctx, sms_id) == "not due"  # sent is sent


def test_a_certificate_link_travels_sealed_and_is_opened_only_in_the_sms(var_dir) -> None:
    from shared import sealing

    public = (var_dir / "keys" / "notify_seal_public.pem").read_bytes()
    link = "http://127.0.0.1:8005/v/1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed"
    message = learner_decision(var_dir, "approved")
    message["data"].update(kind="certificate", certificate_number="ZJC20260000001")
    message["sealed"]["certificate_url"] = sealing.seal(public, link)
    (sms_id,) = accept(message)
    (row,) = [d for d in deliveries() if d.channel.value == "sms"]
    assert link not in row.body and "ZJC20260000001" in row.body  # at rest: a placeholder
    assert attempt(context(), sms_id) == "sent"
    written = (var_dir / "sms" / f"{sms_id}.txt").read_text()
    assert "学习成果证明开具申请已通过审核" in written and link in written


def test_gateway_down_then_back_delivers_once(var_dir, gateway) -> None:
    ctx = context(sms_provider="http", sms_gateway_url=gateway.url, notify_retry_base_seconds=0.01)
    gateway.failures = [503, 502]
    (sms_id,) = accept(learner_decision(var_dir))
    assert attempt(ctx, sms_id) == "retry"
    (row,) = deliveries()[-1:]
    assert row.status == DeliveryStatus.PENDING and "503" in (row.last_error or "")
    make_due(sms_id)
    assert attempt(ctx, sms_id) == "retry"
    make_due(sms_id)
    assert attempt(ctx, sms_id) == "sent"
    assert [r["status"] for r in gateway.requests] == [503, 502, 200]
    assert gateway.accepted() == {str(sms_id)}  # one key: a retry is never a second message
    assert gateway.requests[-1]["to"] == "13812345678"  # the address, only where it is used


def test_a_refused_connection_is_transient(var_dir) -> None:
    nobody = f"http://127.0.0.1:{free_port()}/sms"
    ctx = context(sms_provider="http", sms_gateway_url=nobody, notify_retry_base_seconds=30)
    (sms_id,) = accept(learner_decision(var_dir))
    before = utcnow()
    assert attempt(ctx, sms_id) == "retry"
    (row,) = deliveries()[-1:]
    assert "unreachable" in (row.last_error or "")
    assert before <= row.next_attempt_at <= before + timedelta(seconds=31)


def test_backoff_grows_is_capped_and_jittered() -> None:
    waits = [delivery.backoff(n, 30, 3600).total_seconds() for n in range(1, 12) for _ in range(9)]
    assert all(0 <= w <= 3600 for w in waits) and max(waits) > 600  # grows, capped, jittered
    assert len(set(waits)) > 90


def test_always_failing_is_dead_lettered_then_redriven(var_dir, gateway) -> None:
    ctx = context(
        sms_provider="http",
        sms_gateway_url=gateway.url,
        notify_max_attempts=3,
        notify_retry_base_seconds=0.01,
    )
    gateway.failures = [500, 500, 500]
    (sms_id,) = accept(learner_decision(var_dir))
    outcomes = []
    for _ in range(3):
        make_due(sms_id)
        outcomes.append(attempt(ctx, sms_id))
    assert outcomes == ["retry", "retry", "dead"]
    make_due(sms_id)
    assert attempt(ctx, sms_id) == "not due"  # dead waits for people
    with worker_db().transaction() as session:
        row = session.get(Delivery, sms_id)
        assert row is not None and row.status == DeliveryStatus.DEAD and row.attempts == 3
        delivery.redrive(row)
    assert attempt(ctx, sms_id) == "sent"
    assert gateway.accepted() == {str(sms_id)}


def test_a_permanent_refusal_is_not_retried(var_dir, gateway) -> None:
    ctx = context(sms_provider="http", sms_gateway_url=gateway.url)
    gateway.failures = [400]
    (sms_id,) = accept(learner_decision(var_dir))
    assert attempt(ctx, sms_id) == "dead"
    assert len(gateway.requests) == 1


def test_a_template_that_fails_to_render_is_a_dead_delivery_saying_why() -> None:
    late = event("review.cases_overdue", data={"level": "subcentre"})  # no count, no date
    assert accept(late) == []
    (row,) = deliveries()
    assert row.status == DeliveryStatus.DEAD
    assert "review.cases_overdue.inbox.j2" in (row.last_error or "")
    assert "overdue" in (row.last_error or "")


def test_the_reviewers_digest_lands_in_their_units_inbox() -> None:
    digest = event(
        "review.daily_digest",
        unit_code="S001",
        unit_path="/ZJ/B01/S001/",
        data={
            "level": "subcentre",
            "pending": 4,
            "claimed": 1,
            "overdue": 2,
            "oldest_opened_at": "2026-11-20T09:30:00+00:00",
        },
    )
    assert accept(digest) == []
    (row,) = deliveries()
    assert row.recipient == "unit:S001:reviewer" and row.status == DeliveryStatus.SENT
    assert row.subject == "今日待审：5 件，超期 2 件"
    assert "待领取 4 件，办理中 1 件" in row.body and "2026-11-20 17:30" in row.body


def activation_code_allocated(var_dir: Path, recipient_staff_ids: list[int]) -> dict[str, Any]:
    """An activation code allocated to a point's admin (phone 13912340000), both sealed."""
    public = (var_dir / "keys" / "notify_seal_public.pem").read_bytes()
    return event(
        "org.activation_code_allocated",
        recipient_staff_ids=recipient_staff_ids,
        data={
            "unit_name": "小营街道社区学校",
            "admin_username": "ap1-admin",
            "expires_at": "2026-11-30T08:00:00+00:00",
        },
        sealed={
            "activation_code": sealing.seal(public, "K7QM-3XPA-9TRE"),
            "phone": sealed_phone(var_dir, "13912340000"),
        },
    )


def test_an_activation_code_reaches_the_admins_phone_and_is_never_at_rest_in_clear(
    var_dir,
) -> None:
    allocated = activation_code_allocated(var_dir, [81])
    (sms_id,) = accept(allocated)
    rows = {d.channel.value: d for d in deliveries()}
    assert rows["sms"].recipient == "point_admin"
    assert "[[activation_code]]" in rows["sms"].body
    assert "K7QM" not in rows["sms"].body + rows["inbox"].body  # not in the allocator's inbox
    assert attempt(context(), sms_id) == "sent"
    sent = (var_dir / "sms" / f"{sms_id}.txt").read_text()
    assert "激活码：K7QM-3XPA-9TRE" in sent and "to: 139****0000" in sent
    assert "有效期至 2026-11-30 16:00。" in sent  # 08:00 UTC, read in China time
    with worker_db().transaction() as session:
        row = session.get(Delivery, sms_id)
        assert row is not None and "K7QM" not in row.body


def test_dispatch_drains_a_burst_at_the_channels_rate(var_dir) -> None:
    """A burst over the SMS limit goes out at the limit, within one dispatch, not one window
    per beat."""
    ctx = context(notify_rate_limits="sms=5")
    with worker_db().transaction() as session:
        for _ in range(12):
            delivery.accept(
                session,
                event(
                    "intake.application_decided",
                    data={"kind": "deposit", "outcome": "approved"},
                    sealed={"phone": sealed_phone(var_dir)},
                ),
            )
    started = time.monotonic()
    assert delivery.drain(worker_db(), ctx, budget=10) >= 12
    elapsed = time.monotonic() - started
    statuses = {d.status for d in deliveries() if d.channel.value == "sms"}
    assert statuses == {DeliveryStatus.SENT}
    assert 1.0 < elapsed < 6.0  # 12 at 5 a second: three windows, not three beats


# --- an event's deliveries as one batch ------------------------------------------------------


def attempt_batch(ctx, ids) -> list[str]:
    outcomes = delivery.attempt_many(worker_db(), ctx, ids)
    return [outcomes[i] for i in ids]


def test_a_plan_writes_each_delivery_and_inbox_row_as_planned(var_dir) -> None:
    allocated = activation_code_allocated(var_dir, [82, 81, 82])
    (sms_id,) = accept(allocated)
    rows = deliveries()
    assert [(d.channel.value, d.recipient, d.status.value, d.attempts) for d in rows] == [
        ("sms", "point_admin", "pending", 0),
        ("inbox", "staff:81", "sent", 1),
        ("inbox", "staff:82", "sent", 1),
    ]
    sms, *inbox = rows
    assert sms.id == sms_id and sms.sent_at is None and sms.last_error is None
    assert set(sms.sealed_values or ()) == {"activation_code"}
    assert all(d.sent_at is not None and d.sealed_values is None for d in inbox)
    assert {d.event_id for d in rows} == {allocated["message_id"]}
    assert {(d.unit_code, d.unit_path) for d in rows} == {("AP000001", "/ZJ/B01/S001/AP000001/")}
    with worker_db().transaction() as session:
        items = session.scalars(select(InboxItem).order_by(InboxItem.staff_id)).all()
        # No secret, no address: SQL NULL, not a JSON null.
        nulls = session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.sealed_values.is_(None), Delivery.sealed_address.is_(None))
        )
    assert [(i.staff_id, i.delivery_id) for i in items] == [(81, inbox[0].id), (82, inbox[1].id)]
    assert [(i.subject, i.body) for i in items] == [(d.subject, d.body) for d in inbox]
    assert nulls == 2 and "ap1-admin" in inbox[0].body and "[[activation_code]]" in sms.body


def test_an_event_is_planned_claimed_and_recorded_in_three_short_transactions(
    var_dir, monkeypatch
) -> None:
    """Through a real worker: the plan's statements, a commit; the batch's claim, a commit
    (nothing held open while a channel is spoken to); every outcome recorded, a commit."""
    import threading

    from sqlalchemy import event as sqlalchemy_event

    from services.notify.worker import celery
    from tests.helpers import running_worker, wait_for

    statements: list[str] = []

    def executed(conn, cursor, statement, *args) -> None:
        if threading.current_thread() is not threading.main_thread():
            statements.append(statement.split(None, 1)[0])

    def committed(conn) -> None:
        if threading.current_thread() is not threading.main_thread():
            statements.append("COMMIT")

    engine = worker_db().engine
    sqlalchemy_event.listen(engine, "before_cursor_execute", executed)
    sqlalchemy_event.listen(engine, "commit", committed)
    message = learner_decision(var_dir)
    wire = {**message, "message_id": str(message["message_id"])}
    wire["occurred_at"] = message["occurred_at"].isoformat()
    try:
        with running_worker(celery, ["notify"]):
            celery.send_task("notify.deliver", kwargs=wire, queue="notify")
            wait_for(lambda: [d for d in deliveries() if d.status == DeliveryStatus.SENT])
            wait_for(lambda: statements.count("COMMIT") == 3)
    finally:
        sqlalchemy_event.remove(engine, "before_cursor_execute", executed)
        sqlalchemy_event.remove(engine, "commit", committed)
    # The event; the webhooks asking for it; its deliveries (one executemany). Then the
    # batch claimed (an UPDATE ... RETURNING in a WITH); its outcomes recorded (one
    # executemany).
    assert statements == [
        *("INSERT", "SELECT", "INSERT", "COMMIT"),
        *("WITH", "COMMIT"),
        *("UPDATE", "COMMIT"),
    ]


def test_a_batch_sends_what_is_due_and_skips_what_another_worker_holds(var_dir) -> None:
    ids = [accept(learner_decision(var_dir))[0] for _ in range(3)]
    held = worker_db().engine.connect()
    try:
        held.begin()
        held.execute(select(Delivery.id).where(Delivery.id == ids[1]).with_for_update())
        assert attempt_batch(context(), ids) == ["sent", "not due", "sent"]
    finally:
        held.close()
    assert attempt_batch(context(), ids) == ["not due", "sent", "not due"]  # sent is sent
    assert {p.stem for p in (var_dir / "sms").glob("*.txt")} >= {str(i) for i in ids}


def test_a_transient_failure_in_a_batch_is_retried_and_the_others_are_sent(
    var_dir, gateway
) -> None:
    ctx = context(sms_provider="http", sms_gateway_url=gateway.url, notify_retry_base_seconds=30)
    gateway.failures = [503]
    ids = [accept(learner_decision(var_dir))[0] for _ in range(3)]
    before = utcnow()
    assert attempt_batch(ctx, ids) == ["retry", "sent", "sent"]
    with worker_db().transaction() as session:
        row = session.get(Delivery, ids[0])
        assert row is not None and row.status == DeliveryStatus.PENDING and row.attempts == 1
        assert "503" in (row.last_error or "")
        assert before <= row.next_attempt_at <= before + timedelta(seconds=31)  # backed off
    make_due(ids[0])
    assert attempt_batch(ctx, ids) == ["sent", "not due", "not due"]
    assert sorted(gateway.accepted()) == sorted(str(i) for i in ids)  # each once
    assert len(gateway.requests) == 4


class PickySms:
    """An SMS provider that breaks, unexpectedly, on one number, saying the number."""

    def __init__(self, folder) -> None:
        from services.notify.channels.sms import FileSms

        self.file = FileSms(folder)

    def send(self, phone: str, text: str, key: str) -> None:
        if phone == "13800000000":
            raise RuntimeError(f"no route to {phone}")
        self.file.send(phone, text, key)


def test_an_unexpected_error_fails_its_delivery_alone_without_saying_what_it_said(
    var_dir,
) -> None:
    import dataclasses

    ctx = dataclasses.replace(context(), sms=PickySms(var_dir / "sms"))
    picky = event(
        "intake.application_decided",
        data={"kind": "deposit", "outcome": "approved", "level": "subcentre"},
        sealed={"phone": sealed_phone(var_dir, "13800000000")},
    )
    ids = [accept(picky)[0], accept(learner_decision(var_dir))[0]]
    assert attempt_batch(ctx, ids) == ["retry", "sent"]
    with worker_db().transaction() as session:
        row = session.get(Delivery, ids[0])
        assert row is not None and row.last_error == "unexpected RuntimeError"
        assert row.status == DeliveryStatus.PENDING and row.attempts == 1


def test_what_was_sent_while_the_database_went_away_is_recorded_when_it_is_back(var_dir) -> None:
    """PostgreSQL is cut off (through a fault proxy) between the SMS gateway taking the
    message and the outcome's record: the record is tried again until the database answers,
    so the delivery is sent once and recorded as sent, not left for dispatch to send again."""
    import dataclasses
    import threading

    from sqlalchemy.engine import make_url

    from bench.faultproxy import FaultProxy
    from shared.db import Database

    (sms_id,) = accept(learner_decision(var_dir))
    url = make_url(str(worker_db().engine.url))  # type: ignore[union-attr]
    proxy = FaultProxy(free_port(), url.port or 5432).start()
    db = Database(url.set(port=proxy.listen).render_as_string(hide_password=False))
    ctx = context()

    sent: list[str] = []

    class CutAfterSending:
        def send(self, *args: Any) -> None:
            ctx.sms.send(*args)
            sent.append(args[-1])
            proxy.cut()
            threading.Timer(2.5, proxy.heal).start()

    try:
        cut_after = dataclasses.replace(ctx, sms=CutAfterSending())  # type: ignore[arg-type]
        assert delivery.attempt(db, cut_after, sms_id) == "sent"
        assert proxy.refused >= 1  # the record met the outage, and waited it out
    finally:
        db.dispose()
        proxy.stop()
    (row,) = [d for d in deliveries() if d.id == sms_id]
    assert (row.status, row.attempts) == (DeliveryStatus.SENT, 1)
    assert sent == [str(sms_id)] and (var_dir / "sms" / f"{sms_id}.txt").exists()
    assert delivery.attempt(worker_db(), ctx, sms_id) == "not due"  # dispatch sends nothing
