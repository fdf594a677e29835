"""The Celery app factory shared by every service.

Reliability settings live here so no service can forget one: late acks, re-queue when a
worker dies, one message prefetched at a time, a Redis visibility timeout larger than any
task's time limit (otherwise Redis would hand a still-running task to a second worker),
transient errors retried (``shared.reliable_task``) and poison messages recorded and
dropped (``shared.poison``).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery, current_app, signals
from kombu import Queue

from shared import kombu_fixes, tracing
from shared import poison as _poison  # noqa: F401 - connects its signal handlers
from shared import task_metrics as _task_metrics  # noqa: F401 - connects its signal handlers
from shared.logs import application_id_var, configure_logging, task_id_var
from shared.queues import QUEUES, route_task
from shared.settings import Settings

kombu_fixes.apply()


def make_celery(settings: Settings, include: list[str] | None = None) -> Celery:
    """A Celery app for ``settings.service`` with every queue declared and routed by name."""
    if settings.visibility_timeout <= settings.task_time_limit:
        raise ValueError(
            f"visibility_timeout ({settings.visibility_timeout}s) must exceed "
            f"task_time_limit ({settings.task_time_limit}s)"
        )
    app = Celery(
        settings.service,
        broker=settings.redis_url,
        include=include or [],
        task_cls="shared.reliable_task:ReliableTask",
    )
    app.conf.update(
        task_queues=[Queue(name, routing_key=name) for name in QUEUES],
        task_default_queue=QUEUES[0] if settings.service not in QUEUES else settings.service,
        task_routes=(route_task,),
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        # A task running when the broker connection drops cannot be acknowledged any more:
        # cancel it, Redis delivers it again (every task is idempotent).
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_time_limit=settings.task_time_limit,
        task_soft_time_limit=max(1, settings.task_time_limit - 30),
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout,
            # Scan for them every so many seconds (kombu's default scans every 100 s).
            "unacked_restore_interval": settings.redelivery_check_seconds,
            "unacked_restore_throttle": 1,
            # A sweep holds a lock in Redis (kombu's default: 5 minutes). A worker killed, or
            # cut off from Redis, in the middle of one cannot release it, and no worker then
            # restores anything until it expires; held no longer than a check's interval, a
            # killed worker's messages come back on time. Two sweeps at once are harmless:
            # each message is restored in a transaction watching the unacked set.
            "unacked_mutex_expire": settings.redelivery_check_seconds,
            "socket_timeout": 5,
            "socket_connect_timeout": 5,
        },
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        worker_hijack_root_logger=False,
        # Poison messages recorded in the service's database and dropped (shared/poison.py).
        worker_consumer="shared.poison:PoisonAwareConsumer",
        worker_send_task_events=settings.task_events,
        task_send_sent_event=settings.task_events,
        enable_utc=True,
        timezone="Asia/Shanghai",
    )
    app.conf.cb_settings = settings
    return app


@signals.setup_logging.connect
def _json_logging(loglevel: Any = None, **_kw: Any) -> None:
    # Replaces Celery's own logging setup in workers and beat with the project's JSON logs,
    # at the level of the command line's --loglevel.
    level = loglevel if isinstance(loglevel, int) else logging.getLevelName(loglevel or "INFO")
    configure_logging("celery", logging.getLevelName(level))


@signals.task_prerun.connect
def _bind_task_context(task_id: str | None = None, kwargs: Any = None, **_kw: Any) -> None:
    task_id_var.set(task_id)
    app_id = (kwargs or {}).get("application_id") if isinstance(kwargs, dict) else None
    application_id_var.set(str(app_id) if app_id else None)


@signals.worker_process_init.connect
def _start_tracing(**_kw: Any) -> None:
    # In each pool process, after the fork: the export thread of a provider made before it
    # would not run in the child (the beat and the worker's main process trace nothing).
    settings = getattr(current_app.conf, "cb_settings", None)
    if settings is not None:
        tracing.configure(settings.service, "worker", settings, ["sqlalchemy", "redis", "celery"])


@signals.worker_process_shutdown.connect
def _stop_tracing(**_kw: Any) -> None:
    tracing.shutdown()  # the spans still batched; a pool process exits without atexit


@signals.task_postrun.connect
def _clear_task_context(**_kw: Any) -> None:
    # Connected before the Celery instrumentation's handlers: the task's span is still
    # current here (and not yet at prerun, where the id is bound for the logs).
    tracing.annotate(application_id_var.get())
    task_id_var.set(None)
    application_id_var.set(None)
