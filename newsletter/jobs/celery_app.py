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
- ``worker_pool = "solo"``: the batch runs in the worker's main process, so a warm shutdown
  (SIGTERM, Ctrl+C) reaches it and it hands its unsent rows back (``tasks``); ``--pool`` on
  the command line still overrides this.
- :class:`Rescue`: every third of ``NEWSLETTER_DELIVERY_LEASE``, an idle worker hands the rows
  of workers that stopped renewing their lease (killed) back to the queue and dispatches a
  batch for them (``tasks.rescue_stranded``): a killed worker's batch goes on within seconds;
  so do due rows whose task was lost with a worker killed before it claimed them.
- :class:`RedisCheck`: when the broker or the shared send rate is Redis, a starting worker
  asks it for ``appendonly`` and ``maxmemory-policy`` and logs a warning for each wrong value
  (``jobs.redis_check``); it never stops the worker.
- any broker Celery speaks works (Redis, RabbitMQ); with a broker other than Redis the send
  rate is shared through ``NEWSLETTER_REDIS_URL`` (the settings refuse a rate without it).
- publishing waits at most a few seconds for the broker (``broker_connection_timeout`` and the
  dispatcher's retry policy): a command whose broker is down says so instead of hanging.
- results are ignored: the database is the record of what happened.
- ``broker_connection_retry_on_startup`` explicit (Celery 6 changes its default).
- beat runs one task, ``newsletter.tick``, every 60 s; it is idempotent (the database decides
  what is due), so a second beat or a missed minute does no harm.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from celery import Celery, bootsteps

from newsletter.config import Settings
from newsletter.delivery.dispatch import BROKER_TIMEOUT
from newsletter.delivery.lease import HEARTBEATS_PER_LEASE
from newsletter.jobs import redis_check
from newsletter.jobs.tasks import register, register_schedule, rescue_stranded

VISIBILITY_TIMEOUT = 3600
log = logging.getLogger(__name__)


class Rescue(bootsteps.StartStopStep):  # type: ignore[misc]
    """A worker's timer: look for stranded rows every third of a lease. With the solo pool the
    timer fires only between tasks, so it is the idle workers that look."""

    requires: ClassVar[set[str]] = {"celery.worker.components:Timer"}

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self.tref: Any = None

    def start(self, worker: Any) -> None:
        every = worker.app.newsletter_settings.delivery_lease / HEARTBEATS_PER_LEASE
        self.tref = worker.timer.call_repeatedly(every, rescue_stranded, (worker.app,))

    def stop(self, worker: Any) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None


class RedisCheck(bootsteps.StartStopStep):  # type: ignore[misc]
    """At start: one warning in the worker's log for each setting of our Redis servers that
    can lose queued work (:mod:`newsletter.jobs.redis_check`). Informs; never stops a worker."""

    def start(self, worker: Any) -> None:
        for warning in redis_check.check(worker.app.newsletter_settings):
            log.warning(warning)


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
        worker_pool="solo",
        broker_transport_options=transport_options,
        result_backend_transport_options=transport_options,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=BROKER_TIMEOUT,
        task_default_queue="newsletter",
        timezone="UTC",
        enable_utc=True,
    )
    app.newsletter_settings = settings
    register(app)
    register_schedule(app)
    app.steps["worker"].add(Rescue)
    app.steps["worker"].add(RedisCheck)
    return app
