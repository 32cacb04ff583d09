"""Thin Celery tasks: they take ids, re-read the database, and call the same code as the
in-process path. Per worker process, one :class:`Sender` (engine, SMTP connection, variant
cache) is created lazily after the fork and reused across batches."""

from __future__ import annotations

from typing import Any

from newsletter.config import Settings
from newsletter.db import make_engine, session_factory
from newsletter.delivery import make_sender
from newsletter.delivery.dispatch import CeleryDispatcher
from newsletter.delivery.sender import Sender
from newsletter.jobs.confirmations import TASK as CONFIRMATION_TASK
from newsletter.mail import make_transport
from newsletter.models import utcnow
from newsletter.subscribers.signup import send_confirmation

_senders: dict[int, Sender] = {}


def sender_for(app: Any) -> Sender:
    """This process's sender for ``app`` (created on first use, after any fork)."""
    key = id(app)
    sender = _senders.get(key)
    if sender is None:
        settings: Settings = app.newsletter_settings
        sender = make_sender(settings, session_factory(make_engine(settings)))
        _senders[key] = sender
    return sender


def register(app: Any) -> None:
    # shared=False: a shared task is added to every Celery app created later in the process,
    # so a second app (a test, a resume from the CLI) would carry the first app's closure.
    @app.task(name="newsletter.deliver_batch", ignore_result=True, shared=False)  # type: ignore[untyped-decorator]
    def deliver_batch(issue_id: int) -> dict[str, int]:
        result = sender_for(app).run_batch(issue_id)
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
