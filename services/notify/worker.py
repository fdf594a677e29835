"""The notify Celery app: ``celery -A services.notify.worker worker -Q notify -n notify@%h``."""

from __future__ import annotations

from services.notify import config
from shared.celery_app import make_celery

celery = make_celery(config.settings(), include=["services.notify.tasks"])
