"""The review Celery app. One worker pool per level queue, each started and scaled alone:

celery -A services.review.worker worker -Q review.subcentre -n review.subcentre@%h
"""

from __future__ import annotations

from services.review import config
from shared.celery_app import make_celery

celery = make_celery(config.settings(), include=["services.review.tasks"])
