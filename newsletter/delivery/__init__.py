"""Delivery: transports, fan-out, batch sending and the Celery tasks around them."""

from __future__ import annotations

from newsletter.config import Settings
from newsletter.delivery.outbox import OutboxTransport
from newsletter.delivery.smtp import SmtpTransport
from newsletter.delivery.transport import Transport


def make_transport(settings: Settings) -> Transport:
    """SMTP when ``NEWSLETTER_SMTP_URL`` is set, else the outbox folder."""
    smtp = settings.smtp
    if smtp is not None:
        return SmtpTransport(smtp)
    return OutboxTransport(settings.outbox_dir)
