"""Poison messages on a level's queue, with a real worker on real Redis: bytes that are no
message, a body that cannot be decoded, a message of no known task and one that breaks its
task's contract. Each is recorded in review's own database by digest (never its content)
and dropped, and the good message sent behind them all is still acted on."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bench.faultproxy import FaultProxy
from services.review.context import worker_db
from services.review.models import Case, PoisonMessage
from shared import task_messages
from tests.helpers import WorkerProcess, free_port, wait_for
from tests.review.conftest import open_case_message

pytestmark = [pytest.mark.integration, pytest.mark.slow]
QUEUE = "review.acceptance_point"
SECRET = "330102199003070019"  # personal data a broken message might carry: never stored
EMAIL = "ouyang.mh@example.cn"  # nor an e-mail address, which no redaction masks in a log line


def envelope(body: bytes, headers: dict[str, Any], content_type: str) -> bytes:
    return task_messages.envelope(QUEUE, body, headers, content_type)


def task_message(task: str, kwargs: dict[str, Any]) -> tuple[bytes, str]:
    task_id = str(uuid.uuid4())
    return task_messages.task_message(QUEUE, task, kwargs, task_id), task_id


def test_poison_messages_are_recorded_by_digest_and_do_not_block_the_queue(
    redis_client: redis.Redis, tmp_path: Path
) -> None:
    from services.review.worker import celery

    garbage = f"not json at all {SECRET}".encode()
    not_envelope = json.dumps({"name": SECRET}).encode()
    undecodable = envelope(
        b"\x80\x81 " + (SECRET + EMAIL).encode(), {"task": "review.open_case"}, "x/y"
    )
    # As send_task writes it: its headers carry the kwargs again as text (kwargsrepr).
    unknown_id = str(uuid.uuid4())
    _, unknown = task_messages.TaskMessages(celery).build(
        unknown_id, "review.no_such_task", {"id": SECRET, "email": EMAIL}, QUEUE
    )
    assert EMAIL in json.loads(unknown)["headers"]["kwargsrepr"]
    broken, broken_id = task_message("review.open_case", {"message_id": "x", "name": SECRET})
    good = open_case_message()
    good_message, _ = task_message("review.open_case", good)
    # LPUSH: the queue is read from the right, so the good message is read last.
    for item in (garbage, not_envelope, undecodable, unknown, broken, good_message):
        redis_client.lpush(QUEUE, item)
    log = tmp_path / "worker.log"
    worker = WorkerProcess(
        "services.review.worker", [QUEUE], "poison", concurrency=1, log=log
    ).start()
    try:
        wait_for(lambda: opened(good["application_id"]) == 1, timeout=60)
        wait_for(lambda: len(recorded()) == 5, timeout=30)
        assert worker.alive()
    finally:
        worker.close()
    rows = recorded()
    by_reason = sorted((r.reason, r.task_name or "", r.task_id or "") for r in rows)
    assert by_reason == sorted(
        [
            ("undecodable", "", ""),
            ("undecodable", "", ""),
            ("undecodable", "review.open_case", ""),
            ("unknown_task", "review.no_such_task", unknown_id),
            ("contract", "review.open_case", broken_id),
        ]
    )
    digests = {r.digest for r in rows}
    assert hashlib.sha256(garbage).hexdigest() in digests
    assert all(r.queue == QUEUE for r in rows)
    assert all(SECRET not in json.dumps([r.detail, r.task_name, r.task_id]) for r in rows)
    assert not redis_client.llen(QUEUE)
    # Celery's own handlers write the body into the log; ours say what was dropped, not what
    # it held (the worker logs at WARNING: every refusal is an ERROR or a WARNING).
    lines = log.read_text()
    assert "review.no_such_task" in lines and "poison message dropped" in lines
    assert EMAIL not in lines and SECRET[:6] not in lines


def test_poison_taken_while_the_database_is_unreachable_is_recorded_once_it_answers(
    redis_client: redis.Redis, run_env: dict[str, str]
) -> None:
    url = make_url(run_env["CB_REVIEW_DATABASE_URL"])
    proxy = FaultProxy(free_port(), url.port or 5432).start()
    proxied = url.set(port=proxy.listen).render_as_string(hide_password=False)
    garbage = f"not a message {uuid.uuid4()}".encode()
    worker = WorkerProcess(
        "services.review.worker", [QUEUE], "poison-outage", concurrency=1,
        CB_REVIEW_DATABASE_URL=proxied,
    )  # fmt: skip
    try:
        proxy.cut()
        worker.start()
        redis_client.lpush(QUEUE, garbage)
        wait_for(lambda: proxy.refused >= 1, timeout=60)  # it tried to record, and could not
        proxy.heal()
        (row,) = wait_for(recorded, timeout=60)
        assert worker.alive()
    finally:
        worker.close()
        proxy.stop()
    assert row.digest == hashlib.sha256(garbage).hexdigest() and row.reason == "undecodable"


def opened(application_id: str) -> int:
    with worker_db().transaction() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(Case).where(Case.application_id == application_id)
            )
            or 0
        )


def recorded() -> list[PoisonMessage]:
    with worker_db().transaction() as session:
        rows = list(session.scalars(select(PoisonMessage)))
        session.expunge_all()
        return rows
