"""Every queue of the system, and which queue each task goes to by its name.

Tasks are named ``<service>.<verb>``; a service's tasks go to the service's queue. Review is
the exception by design: it has one queue per review level, and the sender names the level's
queue (``review.subcentre``) when it sends ``review.open_case``.
"""

from __future__ import annotations

from typing import Any

from shared.levels import LEVEL_ORDER, review_queue

REVIEW_LEVEL_QUEUES = tuple(review_queue(level) for level in LEVEL_ORDER)
IMPORTS_QUEUE = "intake.imports"
QUEUES = ("org", "intake", IMPORTS_QUEUE, *REVIEW_LEVEL_QUEUES, "notify")
SERVICE_QUEUES = {"org": "org", "intake": "intake", "notify": "notify"}
# Tasks with a queue of their own: bulk imports must not hold up decisions on ``intake``.
TASK_QUEUES = {
    "intake.prepare_import": IMPORTS_QUEUE,
    "intake.read_import_chunk": IMPORTS_QUEUE,
    "intake.resume_imports": IMPORTS_QUEUE,
}


def queue_for(task_name: str) -> str:
    """The queue a task goes to when the sender does not name one."""
    if task_name in TASK_QUEUES:
        return TASK_QUEUES[task_name]
    service = task_name.split(".", 1)[0]
    if service == "review":
        raise ValueError(f"{task_name}: review tasks are sent to a level's queue explicitly")
    try:
        return SERVICE_QUEUES[service]
    except KeyError:
        raise ValueError(f"{task_name}: no queue for service {service!r}") from None


def route_task(name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **kw: Any) -> Any:
    """Celery router: a queue named by the sender wins; otherwise route by the task's name."""
    if options.get("queue"):
        return {"queue": options["queue"]}
    try:
        return {"queue": queue_for(name)}
    except ValueError:
        return None
