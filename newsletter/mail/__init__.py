"""The wire: building nothing, sending bytes. A transport interface with its SMTP, outbox and
in-memory implementations, DKIM signing, signed VERP return paths, and the one classifier of
SMTP replies. Nothing here reads the database.

``make_transport(settings)`` is the factory every sender uses: SMTP when
``NEWSLETTER_SMTP_URL`` is set, else the outbox folder, DKIM-signed when a selector and key
are configured. A transport holds one connection and is not thread-safe: make one per thread
(or per request), never share one.
"""

from __future__ import annotations

from newsletter.config import Settings
from newsletter.mail.dkim import DkimSigner
from newsletter.mail.memory import MemoryTransport
from newsletter.mail.outbox import OutboxTransport
from newsletter.mail.replies import Stage, Verdict, classify
from newsletter.mail.signing import SigningTransport
from newsletter.mail.smtp import SmtpTransport
from newsletter.mail.transport import (
    DeliveryError,
    Envelope,
    PermanentFailure,
    Ready,
    TemporaryFailure,
    Transport,
    UnknownOutcome,
)

__all__ = [
    "DeliveryError",
    "Envelope",
    "MemoryTransport",
    "OutboxTransport",
    "PermanentFailure",
    "Ready",
    "SmtpTransport",
    "Stage",
    "TemporaryFailure",
    "Transport",
    "UnknownOutcome",
    "Verdict",
    "classify",
    "make_transport",
]


def make_transport(settings: Settings) -> Transport:
    """SMTP when ``NEWSLETTER_SMTP_URL`` is set, else the outbox folder; DKIM-signed when a
    selector and key are configured (a bad key is a ConfigError here, at start-up)."""
    smtp = settings.smtp
    inner: Transport = (
        SmtpTransport(smtp) if smtp is not None else OutboxTransport(settings.outbox_dir)
    )
    dkim = DkimSigner.from_settings(settings)
    return SigningTransport(inner, dkim) if dkim is not None else inner
