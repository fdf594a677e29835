"""A Celery consumer of the ``notify`` queue standing in for the notify service, so the relay
and org's events can be checked through a real worker on real Redis. It validates each message
against its contract, as the real receiver must, and records it in Redis."""

from __future__ import annotations

import json
from functools import cache

import redis
from celery import Celery

from shared import contracts
from shared.celery_app import make_celery
from shared.settings import load_settings

RECEIVED = "cbtest:received"  # every delivery, in order (duplicates included)
EFFECTS = "cbtest:effects"  # message ids acted upon once (an idempotent receiver's effect)


@cache
def consumer_app(redis_url: str | None = None) -> Celery:
    settings = load_settings("notify", {"redis_url": redis_url} if redis_url else None)
    app = make_celery(settings)
    store = redis.Redis.from_url(settings.redis_url)

    @app.task(name="notify.deliver")
    def deliver(**payload: object) -> None:
        message = contracts.load("notify.deliver", dict(payload))
        message_id = str(message["message_id"])
        store.rpush(RECEIVED, json.dumps(payload))
        store.sadd(EFFECTS, message_id)

    return app
