"""The Celery app Flower watches: every queue of the system declared, no tasks of its own.

celery -A shared.flower flower --address=127.0.0.1 --port=5555 --basic-auth=user:pass

Flower loads this module before it serves a page, so its own shortcomings are mended here:
Flower 2.2.0's ``/metrics`` (``flower.views.monitor.Metrics``) lacks the authentication every
other page has, and would hand its figures (task and worker names, queue lengths, failures) to
anyone who can reach the port.
"""

import tornado.web
from flower.views.monitor import Metrics

from shared.celery_app import make_celery
from shared.settings import load_settings

celery = make_celery(load_settings("flower"))

if not hasattr(Metrics.get, "__wrapped__"):  # once, however often this module is loaded
    Metrics.get = tornado.web.authenticated(Metrics.get)
