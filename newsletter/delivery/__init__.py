"""Delivery: one row per recipient (fan-out), batches that claim rows and send them, the
outcome of every message recorded before the next, a shared send rate, and the operator's
steering (pause, resume, cancel). Composition happens before (``newsletter.issues``), the
wire after (``newsletter.mail``)."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.delivery.ratelimit import make_limiter
from newsletter.delivery.sender import Sender
from newsletter.mail import make_transport


def make_sender(settings: Settings, factory: sessionmaker[Session]) -> Sender:
    """A worker process's sender: its transport and the shared send-rate limiter."""
    limiter = make_limiter(settings.limiter_url, settings.send_rate, settings.domain_rate)
    return Sender(factory, settings, make_transport(settings), limiter=limiter)
