"""The Celery application: settings chosen deliberately (README, "Workers").

- ``task_acks_late`` + ``task_reject_on_worker_lost``: a batch whose worker dies is redelivered.
  Safe because the batch task is idempotent: it claims rows by state in the database, and rows
  already sent are never claimed again.
- ``worker_prefetch_multiplier = 1`` and ``worker_concurrency = 1``: a worker holds one batch
  at a time, so a slow worker does not sit on batches others could send, and a killed one
  strands none in its prefetch buffer. Celery reserves multiplier x concurrency messages, and
  its default concurrency is the number of CPUs even for ``--pool=solo``, which runs one task
  at a time: a killed solo worker then also held a second, unstarted batch, invisible to the
  others until the visibility timeout. ``-c N`` on the command line still overrides this.
- ``visibility_timeout`` (Redis): how long an unacknowledged task stays invisible before Redis
  hands it to another worker. It must exceed the longest batch; it is set both for the broker
  transport and for the result backend options, the two places kombu reads it.
- results are ignored: the database is the record of what happened.
- ``broker_connection_retry_on_startup`` explicit (Celery 6 changes its default).
- beat runs one task, ``newsletter.tick``, every 60 s; it is idempotent (the database decides
  what is due), so a second beat or a missed minute does no harm.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from newsletter.config import Settings
from newsletter.jobs.tasks import register, register_schedule

VISIBILITY_TIMEOUT = 3600


def create_celery(settings: Settings) -> Any:
    app = Celery("newsletter", broker=settings.broker_url or "memory://", set_as_current=False)
    transport_options = {"visibility_timeout": VISIBILITY_TIMEOUT}
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        result_backend=None,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_concurrency=1,
        broker_transport_options=transport_options,
        result_backend_transport_options=transport_options,
        broker_connection_retry_on_startup=True,
        task_default_queue="newsletter",
        timezone="UTC",
        enable_utc=True,
    )
    app.newsletter_settings = settings
    register(app)
    register_schedule(app)
    return app
