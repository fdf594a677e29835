"""Imports through the ``intake.imports`` queue with real workers, the outbox relay and real
Redis: read in chunks to "ready for review"; a worker killed with SIGKILL half way, and Redis
restarted empty half way, and every row still accounted for exactly once."""

from __future__ import annotations

import io
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from services.intake.app import create_app
from services.intake.context import db
from services.intake.imports import lifecycle
from services.intake.models import ImportChunk, ImportRecord, Learner, Outbox
from tests.factories import Window
from tests.helpers import PrivateRedis, Relay, WorkerProcess, running_worker, wait_for
from tests.import_data import Generated, generate, to_csv

pytestmark = pytest.mark.integration
QUEUE = "intake.imports"
# A killed worker's unacknowledged messages come back after the visibility timeout; beat's
# resume sweep (called here as beat would) does not wait for it. The time limit stays well
# above a chunk's time on a loaded machine: a task stopped by it is redone by the sweep too.
REDELIVERY = {
    "CB_VISIBILITY_TIMEOUT": "45",
    "CB_TASK_TIME_LIMIT": "40",
    "CB_REDELIVERY_CHECK_SECONDS": "1",
}


def upload(window: Window, data: bytes) -> str:
    r = window.client.post(
        "/api/v1/imports",
        headers=window.token(),
        data={"file": (io.BytesIO(data), "records.csv")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 202, r.json
    return str(r.json["id"])


def state(window: Window, import_id: str) -> dict[str, Any]:
    got = window.client.get(f"/api/v1/imports/{import_id}", headers=window.token())
    return dict(got.json)


def chunks_done(import_id: str) -> tuple[int, int]:
    with db.transaction() as session:
        done, total = session.execute(
            select(func.count().filter(ImportChunk.done), func.count()).where(
                ImportChunk.import_id == uuid.UUID(import_id)
            )
        ).one()
    return int(done), int(total)


def resume_now() -> int:
    """What beat's ``intake.resume_imports`` does, without waiting for its grace period."""
    with db.transaction() as session:
        return lifecycle.resume(session, timedelta(0))


def ready_resuming(window: Window, import_id: str, every: float = 5.0) -> bool:
    """Wait for the import to be ready for review, sweeping every ``every`` s as beat does."""
    started = time.monotonic()
    last = started
    while time.monotonic() - started < 120:
        if state(window, import_id)["status"] == "in_review":
            return True
        if time.monotonic() - last >= every:
            resume_now()
            last = time.monotonic()
        time.sleep(0.2)
    raise AssertionError(f"import {import_id} not ready: {state(window, import_id)}")


def assert_accounted_once(window: Window, import_id: str, generated: Generated) -> None:
    got = state(window, import_id)
    assert got["status"] == "in_review"
    assert (got["rows_read"], got["valid"], got["invalid"], got["duplicate"]) == (
        len(generated.rows),
        generated.valid,
        len(generated.invalid),
        len(generated.duplicate),
    )
    valid_rows = {
        n
        for n in range(2, len(generated.rows) + 2)
        if n not in generated.invalid and n not in generated.duplicate
    }
    with db.transaction() as session:
        rows = session.scalars(
            select(ImportRecord.row).where(ImportRecord.import_id == uuid.UUID(import_id))
        ).all()
        learners = session.scalar(select(func.count()).select_from(Learner))
        handoffs = session.scalar(
            select(func.count()).where(Outbox.task_name == "review.open_case")
        )
    assert sorted(rows) == sorted(valid_rows)  # each valid row once, no other
    docs = {generated.rows[n - 2]["document_number"] for n in valid_rows}
    assert learners == len(docs) == got["accounts_opened"]
    assert handoffs == 1  # one batch to review
    assert chunks_done(import_id)[0] == chunks_done(import_id)[1]


def small_chunks_window(var_dir: Any, **settings: Any) -> tuple[Flask, Window]:
    app = create_app({"import_chunk_rows": 200, **settings})
    return app, Window(app.test_client(), var_dir)


def test_an_import_is_read_on_its_own_queue_to_ready_for_review(var_dir: Any) -> None:
    from services.intake.worker import celery

    app, window = small_chunks_window(var_dir)
    generated = generate(1500)
    relay = Relay("intake").start()
    try:
        with app.app_context(), running_worker(celery, [QUEUE]):
            import_id = upload(window, to_csv(generated.rows))
            wait_for(lambda: state(window, import_id)["status"] == "in_review", timeout=60)
            assert_accounted_once(window, import_id, generated)
            wait_for(_handoff_sent, timeout=20)  # the relay published the batch to review
    finally:
        relay.close()
        db.remove()


def _handoff_sent() -> bool:
    with db.transaction() as session:
        return (
            session.scalar(select(Outbox.sent_at).where(Outbox.task_name == "review.open_case"))
            is not None
        )


@pytest.mark.slow
def test_an_import_whose_worker_is_killed_resumes_and_counts_each_row_once(var_dir: Any) -> None:
    app, window = small_chunks_window(var_dir)
    generated = generate(12_000, seed=5)
    worker = WorkerProcess("services.intake.worker", [QUEUE], "imports-a", **REDELIVERY)
    again = WorkerProcess("services.intake.worker", [QUEUE], "imports-b", **REDELIVERY)
    relay = Relay("intake").start()
    try:
        with app.app_context():
            import_id = upload(window, to_csv(generated.rows))
            worker.start()
            wait_for(lambda: chunks_done(import_id)[0] >= 8, timeout=60, interval=0.02)
            worker.kill()  # the main process and both pool processes, mid-chunk
            done, total = chunks_done(import_id)
            assert done < total, "the import finished before its worker could be killed"
            # Progress while it is stopped: exactly the rows of the chunks done.
            half = state(window, import_id)
            assert half["status"] == "processing"
            assert 0 < half["rows_read"] < len(generated.rows)
            assert half["valid"] + half["invalid"] + half["duplicate"] == half["rows_read"]
            again.start()
            resume_now()  # beat's sweep re-sends the chunks not done; a chunk done twice is not
            ready_resuming(window, import_id)
            assert_accounted_once(window, import_id, generated)
    finally:
        worker.close(), again.close(), relay.close()
        db.remove()


@pytest.mark.slow
def test_an_import_survives_redis_restarted_empty_with_the_same_worker(var_dir: Any) -> None:
    server = PrivateRedis().start(appendonly=False)  # Redis comes back with nothing
    env = {"CB_REDIS_URL": server.url}
    app, window = small_chunks_window(var_dir, redis_url=server.url)
    generated = generate(12_000, seed=6)
    worker = WorkerProcess("services.intake.worker", [QUEUE], "imports", **env)
    relay = Relay("intake", **env)
    try:
        with app.app_context():
            worker.start(), relay.start()
            pid = worker.pid
            import_id = upload(window, to_csv(generated.rows))
            wait_for(lambda: chunks_done(import_id)[0] >= 8, timeout=60, interval=0.02)
            server.stop()
            assert chunks_done(import_id)[0] < chunks_done(import_id)[1]
            server.start(appendonly=False)
            resume_now()  # the chunks' messages died with Redis: the sweep sends them again
            ready_resuming(window, import_id)
            assert worker.alive() and worker.pid == pid
            assert_accounted_once(window, import_id, generated)
    finally:
        worker.close(), relay.close()
        server.stop()
        db.remove()
