"""The Celery app Flower watches: every queue of the system declared, no tasks of its own.

celery -A shared.flower flower --address=127.0.0.1 --port=5555 --basic-auth=user:pass
"""

from shared.celery_app import make_celery
from shared.settings import load_settings

celery = make_celery(load_settings("flower"))
