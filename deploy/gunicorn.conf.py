"""Gunicorn settings shared by every service (the bind address is given per service)."""

import os

workers = int(os.environ.get("CB_WEB_WORKERS", "2"))
threads = 1
timeout = 30
graceful_timeout = 10
accesslog = "-"
# Four services run side by side: a shared default control socket path would collide.
control_socket_disable = True
# No query strings in the access log: a search may carry personal data.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s'

# Gunicorn's own logs as JSON lines, like the rest of the system (shared/logs.py).
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "shared.logs.JsonFormatter", "service": "gunicorn"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        },
    },
    "root": {"handlers": ["stderr"], "level": "INFO"},
    "loggers": {
        "gunicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
}
