"""The system's one beat: every periodic task it sends exists in the worker app that consumes
the queue it is sent to; and no task is ever delayed in Redis."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from shared.beat import celery as beat
from shared.queues import route_task

WORKER_APPS = {
    "org": "services.org.worker",
    "intake": "services.intake.worker",
    "review": "services.review.worker",
    "notify": "services.notify.worker",
}


def test_every_scheduled_task_reaches_a_worker_that_has_it() -> None:
    assert beat.conf.beat_schedule
    for name, entry in beat.conf.beat_schedule.items():
        options = entry.get("options", {})
        queue = (route_task(entry["task"], (), {}, options) or {}).get("queue")
        assert queue, f"{name}: {entry['task']} has no queue"
        service = queue.split(".", 1)[0]
        app = importlib.import_module(WORKER_APPS[service]).celery
        app.loader.import_default_modules()
        assert entry["task"] in app.tasks, f"{name}: {service}'s worker has no {entry['task']}"


def test_no_task_is_delayed_in_redis() -> None:
    """A delayed task waits in the worker unacknowledged; past the visibility timeout Redis
    would hand it to a second worker. The code sends none: periodic work is beat's, and retries
    are redeliveries of a failed (not acknowledged) message."""
    root = Path(__file__).resolve().parents[2]
    delaying = re.compile(r"\b(countdown|eta|default_retry_delay|retry_backoff)\s*=|\.retry\(")
    found = [
        f"{path.relative_to(root)}:{n}"
        for folder in ("services", "shared")
        for path in sorted((root / folder).rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if delaying.search(line)
    ]
    assert found == []
