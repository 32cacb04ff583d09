"""Thin Celery tasks: they take ids, re-read the database, and call the same code as the
in-process path. Per worker process, one :class:`Sender` (engine, SMTP connection, variant
cache) is created lazily after the fork and reused across batches.

A warm shutdown (SIGTERM, or Ctrl+C, to a solo worker) asks the running batch to stop: it
finishes its message in flight, hands the rest of its rows back, and the task's message goes
back to the broker (``Reject(requeue=True)``; with ``task_acks_late`` it was not acknowledged
yet), so another worker continues the batch at once. :func:`rescue_stranded` is what idle
workers run every third of a lease (``celery_app.Rescue``) for the rows of killed ones.
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any

from celery.exceptions import Reject
from celery.signals import worker_shutting_down
from sqlalchemy.exc import SQLAlchemyError

from newsletter.config import Settings
from newsletter.db import make_engine, session_factory, transaction
from newsletter.delivery import make_sender
from newsletter.delivery.dispatch import BrokerUnavailable, CeleryDispatcher
from newsletter.delivery.lease import orphaned, release_stranded
from newsletter.delivery.sender import Sender
from newsletter.jobs.confirmations import TASK as CONFIRMATION_TASK
from newsletter.mail import make_transport
from newsletter.models import utcnow
from newsletter.subscribers.signup import send_confirmation

log = logging.getLogger(__name__)

# Keyed by process too: a prefork child forked after its parent made one must make its own.
_senders: dict[tuple[int, int], Sender] = {}


def sender_for(app: Any) -> Sender:
    """This process's sender for ``app`` (created on first use, after any fork)."""
    key = (id(app), os.getpid())
    sender = _senders.get(key)
    if sender is None:
        settings: Settings = app.newsletter_settings
        sender = make_sender(settings, session_factory(make_engine(settings)))
        _senders[key] = sender
    return sender


def _stop_batches(**_: Any) -> None:
    """Celery's warm shutdown (run inside its signal handler: only set flags here)."""
    for (_app, pid), sender in list(_senders.items()):
        if pid == os.getpid():
            sender.request_stop()


worker_shutting_down.connect(_stop_batches, weak=False, dispatch_uid="newsletter.stop_batches")


def rescue_stranded(app: Any) -> dict[int, int]:
    """Rows whose holder stopped renewing its lease (a killed worker) back to the queue, and a
    batch dispatched for them; returns batches per issue. Errors are logged, never raised: this
    runs on the worker's timer, and the next look tries again."""
    sender = sender_for(app)
    try:
        with transaction(sender.factory) as session:
            released = release_stranded(session, utcnow())
        with sender.factory() as session:
            idle = orphaned(session, utcnow(), sender.lease)
    except SQLAlchemyError as exc:
        log.warning("cannot look for stranded deliveries: %s", exc)
        return {}
    due = {**idle, **released}
    batches = {i: math.ceil(n / sender.settings.batch_size) for i, n in due.items()}
    for issue_id, count in batches.items():
        log.warning(
            "issue %s: %s deliveries of a worker that stopped renewing its lease or lost its "
            "task are queued again",
            issue_id,
            due[issue_id],
        )
        try:  # if this fails too, the rows are due: the minute tick dispatches them
            CeleryDispatcher(app).dispatch(issue_id, count)
        except BrokerUnavailable as exc:
            log.warning("issue %s: %s", issue_id, exc)
    return batches


def register(app: Any) -> None:
    # shared=False: a shared task is added to every Celery app created later in the process,
    # so a second app (a test, a resume from the CLI) would carry the first app's closure.
    @app.task(name="newsletter.deliver_batch", ignore_result=True, shared=False)  # type: ignore[untyped-decorator]
    def deliver_batch(issue_id: int) -> dict[str, int]:
        sender = sender_for(app)
        result = sender.run_batch(issue_id)
        if sender.stop_requested:  # a warm shutdown: this batch's rest is another worker's
            raise Reject(f"worker stopping; {result.handed_back} rows handed back", requeue=True)
        return {
            "claimed": result.claimed,
            "sent": result.sent,
            "retry": result.retry,
            "failed": result.failed,
            "unknown": result.unknown,
            "skipped": result.skipped,
        }

    @app.task(name=CONFIRMATION_TASK, ignore_result=True, shared=False)  # type: ignore[untyped-decorator]
    def send_confirmation_task(subscriber_id: int) -> str | None:
        """Mail a sign-up's confirmation (nothing if it is no longer pending), on a transport
        of its own: the batch sender's connection may be mid-pipeline in another task."""
        sender = sender_for(app)
        transport = make_transport(sender.settings)
        try:
            return send_confirmation(
                sender.factory, sender.settings, sender.signer, transport, subscriber_id, utcnow()
            )
        finally:
            transport.close()


def register_schedule(app: Any) -> None:
    """The minute tick (weekly slot, scheduled sends, overdue work) for ``celery beat``."""

    @app.task(name="newsletter.tick", ignore_result=True, shared=False)  # type: ignore[untyped-decorator]
    def tick_task() -> dict[str, object]:
        # Imported here: the tick runs the weekly job, which ingests (httpx, feedparser, lxml);
        # a worker that only sends batches never needs those, and stays 5 MiB smaller.
        from newsletter.jobs.tick import tick

        sender = sender_for(app)
        report = tick(sender.factory, sender.settings, CeleryDispatcher(app), utcnow())
        return {
            "weekly": report.weekly.outcome if report.weekly else None,
            "started": report.started,
            "redispatched": report.redispatched,
            "errors": report.errors,
        }

    app.conf.beat_schedule = {
        "newsletter-tick": {"task": "newsletter.tick", "schedule": 60.0},
    }
