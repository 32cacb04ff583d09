"""Thin Celery tasks: they take ids, re-read the database, and call the same code as the
in-process path. Per worker process, one :class:`Sender` (engine, SMTP connection, variant
cache) is created lazily after the fork and reused across batches."""

from __future__ import annotations

from typing import Any

from newsletter.config import Settings
from newsletter.db import make_engine, session_factory
from newsletter.delivery.sender import Sender

_senders: dict[int, Sender] = {}


def sender_for(app: Any) -> Sender:
    """This process's sender for ``app`` (created on first use, after any fork)."""
    key = id(app)
    sender = _senders.get(key)
    if sender is None:
        from newsletter.delivery import make_sender

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


def register_schedule(app: Any) -> None:
    """The minute tick (weekly slot, scheduled sends, overdue work) for ``celery beat``."""

    @app.task(name="newsletter.tick", ignore_result=True, shared=False)  # type: ignore[untyped-decorator]
    def tick_task() -> dict[str, object]:
        from newsletter.delivery.dispatch import CeleryDispatcher
        from newsletter.models import utcnow
        from newsletter.scheduling import tick

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
