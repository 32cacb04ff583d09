"""Choosing where batches run: Celery workers when a broker is configured, else this process."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.delivery.dispatch import CeleryDispatcher, Dispatcher, InlineDispatcher


def dispatcher_for(settings: Settings, factory: sessionmaker[Session]) -> Dispatcher:
    if settings.broker_url:
        from newsletter.delivery.celery_app import create_celery

        return CeleryDispatcher(create_celery(settings))
    from newsletter.delivery import make_sender

    sender = make_sender(settings, factory)
    return InlineDispatcher(lambda issue_id: sender.run_batch(issue_id).claimed)
