"""JSON logs carrying request id, task id, application id and, when a span is current (tracing
on: ``shared.tracing``), its trace and span ids; never personal data.

Personal data should never be handed to a logger in the first place; ``redact`` is the net
under that rule: anything shaped like a resident ID number or a mainland mobile number is
masked before a record is written.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
task_id_var: ContextVar[str | None] = ContextVar("task_id", default=None)
application_id_var: ContextVar[str | None] = ContextVar("application_id", default=None)

_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d{6})\d{8}(\d{3}[0-9Xx])(?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")
_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
# Celery hands a task's arguments and result to its log records (``data``); message bodies
# are not logged: the task id and name say which message it was.
_MESSAGE_BODY = ("args", "kwargs", "return_value")


def redact(text: str) -> str:
    """Mask ID-number-like and mobile-number-like digit runs in ``text``."""
    text = _ID_NUMBER.sub(lambda m: f"{m.group(1)[:4]}**********{m.group(2)[-4:]}", text)
    return _MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(2)}", text)


def _safe(value: Any) -> Any:
    """A log record's extra value, redacted; a message body inside it is left out."""
    if isinstance(value, dict):
        value = {k: v for k, v in value.items() if k not in _MESSAGE_BODY}
    return _redacted(value)


def _redacted(value: Any) -> Any:
    # Each string (and number) is redacted on its own, never the JSON text of the whole:
    # a float's digits (a task's runtime, 0.014540962999944895) are shaped like an ID
    # number, and masking them in the text left JSON that could not be read back, so the
    # line was lost with a "Logging error" (found by bench/chaos.py).
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):  # a phone number may arrive as one
        return value if redact(str(value)) == str(value) else redact(str(value))
    if isinstance(value, float):
        return value
    if isinstance(value, dict):
        return {str(k): _redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redacted(v) for v in value]
    return redact(str(value))


def _trace_ids() -> dict[str, str]:
    """The current span's ids, as a trace backend shows them (hex), so a log line is found
    from its trace and a trace from its log line; none without a span."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
    }


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for key, var in (
            ("request_id", request_id_var),
            ("task_id", task_id_var),
            ("application_id", application_id_var),
        ):
            value = getattr(record, key, None) or var.get()
            if value:
                entry[key] = str(value)
        entry.update(_trace_ids())
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and key not in entry:
                entry[key] = _safe(value)
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send every log record of the process to stderr as one JSON object per line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
