"""Gunicorn settings shared by every service (the bind address is given per service)."""

import os

workers = int(os.environ.get("CB_WEB_WORKERS", "2"))
threads = 1
timeout = 30
graceful_timeout = 10
accesslog = "-"
# Four services run side by side: a shared default control socket path would collide.
control_socket_disable = True
# No query strings in the access log: a search may carry personal data. The trace that
# answered (tracing on: shared/tracing.py) is the response's traceresponse header.
access_log_format = (
    '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s trace=%({traceresponse}o)s'
)

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


# Prometheus multiprocess mode: every worker writes its metrics into a directory of this
# server's own (one per port, under CB_METRICS_DIR or the temporary directory), which
# /metrics adds up. It is wiped once the port is ours, before the first worker starts, so
# no dead server's counts linger; a worker that exits has its live gauges dropped.
def when_ready(server):
    import shutil
    import tempfile

    base = os.environ.get("CB_METRICS_DIR") or os.path.join(
        tempfile.gettempdir(), f"creditbank-metrics-{os.getuid()}"
    )
    port = str(server.cfg.bind[0]).rsplit(":", 1)[-1].replace("/", "_")  # or a unix socket
    directory = os.path.join(base, f"web-{port}")
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory, mode=0o700)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
