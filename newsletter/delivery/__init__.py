"""Delivery: transports, fan-out, batch sending and the Celery tasks around them."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from newsletter.compose.dkim import DkimSigner
from newsletter.config import Settings
from newsletter.delivery.outbox import OutboxTransport
from newsletter.delivery.ratelimit import make_limiter
from newsletter.delivery.sender import Sender
from newsletter.delivery.signing import SigningTransport
from newsletter.delivery.smtp import SmtpTransport
from newsletter.delivery.transport import Transport


def make_transport(settings: Settings) -> Transport:
    """SMTP when ``NEWSLETTER_SMTP_URL`` is set, else the outbox folder; DKIM-signed when a
    selector and key are configured (a bad key is a ConfigError here, at start-up)."""
    smtp = settings.smtp
    inner: Transport = (
        SmtpTransport(smtp) if smtp is not None else OutboxTransport(settings.outbox_dir)
    )
    dkim = DkimSigner.from_settings(settings)
    return SigningTransport(inner, dkim) if dkim is not None else inner


def make_sender(settings: Settings, factory: sessionmaker[Session]) -> Sender:
    """A worker process's sender: its transport and the shared send-rate limiter."""
    limiter = make_limiter(settings.limiter_url, settings.send_rate, settings.domain_rate)
    return Sender(factory, settings, make_transport(settings), limiter=limiter)
