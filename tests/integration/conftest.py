"""Fixtures of the tests that deliver every message twice: the relays that publish each
outbox row twice, and a count of the task runs on the in-process worker."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from celery import signals

from shared.celery_app import make_celery
from shared.db import make_engine
from shared.relay import Relay
from shared.settings import load_settings


class TwiceRelay(Relay):
    """The outbox relay, publishing every message twice (same task id, as a redelivery)."""

    def _messages(self, rows: Any, sent: Any, links: Any) -> Any:
        # Each queue's LPUSH carries its messages twice over, the second copy behind the first.
        by_queue = super()._messages(rows, sent, links)
        return {key: (ids, messages * 2) for key, (ids, messages) in by_queue.items()}


@pytest.fixture
def relays_twice() -> Iterator[None]:
    relays = []
    for service in ("intake", "review"):
        settings = load_settings(service)
        engine = make_engine(settings.database_url)
        relays.append(TwiceRelay(engine, make_celery(settings), idle_wait=0.2))
    threads = [threading.Thread(target=r.run, daemon=True) for r in relays]
    for thread in threads:
        thread.start()
    yield
    for relay in relays:
        relay.stopping.set()
    for thread in threads:
        thread.join(timeout=20)


@pytest.fixture
def task_runs() -> Iterator[Counter[tuple[str, str]]]:
    """How many times each task id ran on the in-process worker."""
    runs: Counter[tuple[str, str]] = Counter()

    def count_run(task_id: str = "", task: Any = None, **_kw: Any) -> None:
        runs[(task.name, task_id)] += 1

    signals.task_postrun.connect(count_run, weak=False)
    yield runs
    signals.task_postrun.disconnect(count_run)
