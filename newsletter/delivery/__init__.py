"""Delivery: transports, fan-out, batch sending and the Celery tasks around them."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.delivery.outbox import OutboxTransport
from newsletter.delivery.ratelimit import make_limiter
from newsletter.delivery.sender import Sender
from newsletter.delivery.smtp import SmtpTransport
from newsletter.delivery.transport import Transport


def make_transport(settings: Settings) -> Transport:
    """SMTP when ``NEWSLETTER_SMTP_URL`` is set, else the outbox folder."""
    smtp = settings.smtp
    if smtp is not None:
        return SmtpTransport(smtp)
    return OutboxTransport(settings.outbox_dir)


def make_sender(settings: Settings, factory: sessionmaker[Session]) -> Sender:
    """A worker process's sender: its transport and the shared send-rate limiter."""
    limiter = make_limiter(settings.limiter_url, settings.send_rate, settings.domain_rate)
    return Sender(factory, settings, make_transport(settings), limiter=limiter)
