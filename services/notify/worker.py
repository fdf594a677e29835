"""The notify Celery app: ``celery -A services.notify.worker worker -Q notify -n notify@%h``."""

from __future__ import annotations

from typing import Any

from celery import signals

from services.notify import config
from services.notify.context import close_worker_context
from shared.celery_app import make_celery

celery = make_celery(config.settings(), include=["services.notify.tasks"])


@signals.worker_process_shutdown.connect
def _close_connections(**_kw: Any) -> None:
    # A pool process keeps its SMTP connection between tasks: QUIT before it exits.
    close_worker_context()
