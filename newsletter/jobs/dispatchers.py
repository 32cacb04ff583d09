"""Choosing where batches run: Celery workers when a broker is configured, else this process."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.delivery import make_sender
from newsletter.delivery.dispatch import CeleryDispatcher, InlineDispatcher
from newsletter.jobs.celery_app import create_celery

# Seconds a send in this process (no broker: someone waits at a terminal) rides out an SMTP
# server failing everyone before it pauses the issue and says why; workers wait
# NEWSLETTER_SMTP_OUTAGE_PAUSE, since nobody watches them.
INLINE_OUTAGE_PAUSE = 10.0


def dispatcher_for(
    settings: Settings, factory: sessionmaker[Session]
) -> InlineDispatcher | CeleryDispatcher:
    """Celery when ``NEWSLETTER_BROKER_URL`` is set; else the batches run here, through one
    sender (its transport and rate limiter) that ``close()`` releases; SIGINT and SIGTERM make
    it hand its unsent rows back before the command exits; an SMTP outage pauses the issue
    after :data:`INLINE_OUTAGE_PAUSE` at most."""
    if settings.broker_url:
        return CeleryDispatcher(create_celery(settings))
    sender = make_sender(settings, factory)
    sender.outage.pause_after = min(settings.smtp_outage_pause, INLINE_OUTAGE_PAUSE)
    return InlineDispatcher(
        lambda issue_id: sender.run_batch(issue_id).claimed,
        sender.close,
        on_signal=sender.request_stop,
    )
