"""The org Celery app: ``celery -A services.org.worker worker -Q org``. Its periodic tasks
are scheduled by the system's one beat (``shared.beat``)."""

from __future__ import annotations

from services.org import config
from shared.celery_app import make_celery

celery = make_celery(config.settings(), include=["services.org.tasks"])
