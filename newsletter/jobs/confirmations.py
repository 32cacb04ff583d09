"""Confirmation mail, handed over after the commit that stored the sign-up.

With a broker, a Celery task (``newsletter.send_confirmation``) takes the subscriber's id and
sends the mail from a worker, so a web request only commits and answers. Without one, the mail
is sent in this process through a transport made for that one mail and closed after it: two
requests never share an SMTP connection (a transport is not thread-safe).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.mail.transport import Transport
from newsletter.models import utcnow
from newsletter.subscribers.signup import send_confirmation
from newsletter.tokens import Signer

TASK = "newsletter.send_confirmation"


@dataclass(frozen=True)
class Handed:
    """What became of one confirmation: sent here, queued for a worker, or refused."""

    sent: bool = False
    queued: bool = False
    error: str | None = None


class Confirmations(Protocol):
    def submit(self, subscriber_id: int) -> Handed: ...


class InlineConfirmations:
    """Sends each confirmation now, in this thread, on a transport of its own."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        settings: Settings,
        signer: Signer,
        transport: Callable[[], Transport],
    ) -> None:
        self._factory, self._settings, self._signer = factory, settings, signer
        self._transport = transport

    def submit(self, subscriber_id: int) -> Handed:
        transport = self._transport()
        try:
            error = send_confirmation(
                self._factory, self._settings, self._signer, transport, subscriber_id, utcnow()
            )
        finally:
            transport.close()
        return Handed(sent=error is None, error=error)


class CeleryConfirmations:
    """Queues each confirmation for a worker."""

    def __init__(self, app: Any) -> None:
        self._app = app

    def submit(self, subscriber_id: int) -> Handed:
        self._app.tasks[TASK].delay(subscriber_id)
        return Handed(queued=True)
