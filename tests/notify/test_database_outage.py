"""Notify's worker, a real process, while its database cannot be reached (the connection
refused through a fault proxy, as when PostgreSQL restarts): the event it was handed is not
failed and dropped, it is tried again and delivered once the database answers."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from bench.faultproxy import FaultProxy
from services.notify.context import worker_db
from services.notify.models import Delivery, DeliveryStatus
from tests.helpers import WorkerProcess, free_port, wait_for
from tests.notify.conftest import wire_event

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def sent_sms() -> list[Delivery]:
    with worker_db().transaction() as session:
        return list(
            session.scalars(
                select(Delivery).where(
                    Delivery.channel == "sms", Delivery.status == DeliveryStatus.SENT
                )
            )
        )


def test_an_event_taken_while_the_database_is_unreachable_is_delivered_once_it_is_back(
    var_dir, run_env, redis_client
) -> None:
    from services.notify.worker import celery

    url = make_url(run_env["CB_NOTIFY_DATABASE_URL"])
    proxy = FaultProxy(free_port(), url.port or 5432).start()
    proxied = url.set(port=proxy.listen).render_as_string(hide_password=False)
    worker = WorkerProcess(
        "services.notify.worker", ["notify"], "notify-outage", concurrency=1,
        CB_NOTIFY_DATABASE_URL=proxied,
    )  # fmt: skip
    message = wire_event(var_dir)
    try:
        proxy.cut()
        worker.start()
        celery.send_task(
            "notify.deliver", kwargs=message, queue="notify", task_id=message["message_id"]
        )
        wait_for(lambda: proxy.refused >= 1, timeout=60)  # the task met the outage
        wait_for(lambda: not redis_client.llen("notify"), timeout=30)
        proxy.heal()
        (row,) = wait_for(sent_sms, timeout=60)
    finally:
        worker.close()
        proxy.stop()
    assert (var_dir / "sms" / f"{row.id}.txt").exists()
