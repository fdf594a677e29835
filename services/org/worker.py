"""The org Celery app: ``celery -A services.org.worker worker -Q org`` (and ``beat``)."""

from __future__ import annotations

from celery.schedules import crontab

from services.org import config
from shared.celery_app import make_celery

celery = make_celery(config.settings(), include=["services.org.tasks"])
celery.conf.beat_schedule = {
    "purge-refresh-tokens": {
        "task": "org.purge_refresh_tokens",
        "schedule": crontab(minute=17, hour=3),
    },
    "sync-revocations": {"task": "org.sync_revocations", "schedule": 60.0},
}
