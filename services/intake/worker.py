"""The intake Celery app: ``celery -A services.intake.worker worker -Q intake``."""

from __future__ import annotations

from services.intake import config
from shared.celery_app import make_celery

celery = make_celery(config.settings(), include=["services.intake.tasks"])
