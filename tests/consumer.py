"""A Celery consumer standing in for the services that do not consume their queues yet
(review's level queues, notify), so that what the relays publish is checked through a real
worker on real Redis. It validates each message against its contract, as the real receiver
must, and records it in Redis."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import redis
from celery import Celery

from shared import contracts
from shared.celery_app import make_celery
from shared.settings import load_settings

RECEIVED = "cbtest:received"  # every delivery, in order (duplicates included)
EFFECTS = "cbtest:effects"  # message ids acted upon once (an idempotent receiver's effect)
STAND_IN_FOR = ("notify.deliver", "review.open_case", "review.withdraw_application")


@cache
def consumer_app(redis_url: str | None = None) -> Celery:
    settings = load_settings("notify", {"redis_url": redis_url} if redis_url else None)
    app = make_celery(settings)
    store = redis.Redis.from_url(settings.redis_url)
    # Finalizing adds every shared task already imported (the real receivers, when another
    # test imported them); the stand-ins then take their names, and a real task imported
    # later finds its name taken on this app.
    app.finalize()
    for name in STAND_IN_FOR:
        app.tasks.pop(name, None)
        _register(app, store, name)
    return app


def _register(app: Celery, store: redis.Redis, name: str) -> None:
    @app.task(name=name, shared=False)  # not shared: each app records into its own Redis
    def receive(**payload: Any) -> None:
        message = contracts.load(name, dict(payload))
        store.rpush(RECEIVED, json.dumps(payload))
        store.sadd(EFFECTS, str(message["message_id"]))
