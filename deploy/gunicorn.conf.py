"""Gunicorn settings shared by every service (the bind address is given per service)."""

import os

workers = int(os.environ.get("CB_WEB_WORKERS", "2"))
threads = 1
timeout = 30
graceful_timeout = 10
accesslog = "-"
# No query strings in the access log: a search may carry personal data.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s'
