"""The one beat of the whole system: every periodic task, sent by name to its queue.

celery -A shared.beat beat --schedule var/celerybeat-schedule

Run exactly one. It imports no service: tasks are named, and review's go to a level queue
named here (review has no queue of its own).
"""

from __future__ import annotations

from celery.schedules import crontab

from shared.celery_app import make_celery
from shared.settings import load_settings

settings = load_settings("beat")
celery = make_celery(settings)
celery.conf.beat_schedule = {
    "purge-refresh-tokens": {
        "task": "org.purge_refresh_tokens",
        "schedule": crontab(minute=17, hour=3),
    },
    "sync-revocations": {"task": "org.sync_revocations", "schedule": 60.0},
    # Applications long in review are checked against review's cases: lost messages redone.
    "reconcile-reviews": {
        "task": "intake.reconcile_reviews",
        "schedule": settings.reconcile_interval_seconds,
    },
    # Imports a lost message or a dead worker left stalled go on from where they stopped.
    "resume-imports": {"task": "intake.resume_imports", "schedule": 60.0},
    # Expired claims freed; overdue cases flagged and their units reminded through notify.
    "review-deadlines": {
        "task": "review.sweep_deadlines",
        "schedule": 900.0,
        "options": {"queue": "review.province"},
    },
    # Each unit's reviewers: one digest a day of pending and overdue cases (08:00 Beijing).
    "review-digests": {
        "task": "review.send_digests",
        "schedule": crontab(minute=0, hour=8),
        "options": {"queue": "review.province"},
    },
    # Deliveries due again (retries after transient failures, redriven dead letters).
    "notify-dispatch": {"task": "notify.dispatch", "schedule": 15.0},
}
