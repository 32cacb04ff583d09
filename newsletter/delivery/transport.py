"""The mail transport interface: build the message first, then hand bytes to a transport.

A transport either returns (the message was accepted: SMTP 2xx, a file written) or raises one
of the three outcomes below. Delivery code depends on this module only; the outbox, memory and
SMTP transports are interchangeable behind it (Mailman's IMailTransportAgentDelivery idea).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Envelope:
    """SMTP envelope: the return path and one recipient, plus the message's Message-ID."""

    mail_from: str
    rcpt_to: str
    message_id: str


class DeliveryError(Exception):
    """Base of transport outcomes other than success."""

    def __init__(self, reason: str, code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class TemporaryFailure(DeliveryError):
    """4xx reply or a connection problem before DATA completed: safe to retry later."""


class PermanentFailure(DeliveryError):
    """5xx reply: do not retry; a 5xx to RCPT TO is a hard bounce of that address."""

    def __init__(self, reason: str, code: int | None = None, *, hard_bounce: bool = False) -> None:
        super().__init__(reason, code)
        self.hard_bounce = hard_bounce


class UnknownOutcome(DeliveryError):
    """The connection was lost after DATA's final dot: the server may have accepted the
    message, so it must not be blindly sent again."""


Ready = Callable[[], None]


class Transport(Protocol):
    """Sends one message; reusable across many sends; ``close`` releases connections.

    ``ready``, when given, is called before any of the message's content leaves, so before it
    can be accepted; a transport calls it while it waits on the server anyway (SMTP with
    PIPELINING: after the envelope went out, before its replies are read), so that the caller's
    work (the sender commits the previous message's outcome) overlaps the server's. It may be
    called more than once (it must be idempotent), or not at all when the send fails first. An
    exception from ``ready`` propagates unchanged; the message was not sent.
    """

    def send(self, envelope: Envelope, message: bytes, ready: Ready | None = None) -> None: ...

    def close(self) -> None: ...
