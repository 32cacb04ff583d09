"""The mail transport interface: build the message first, then hand bytes to a transport.

A transport either returns (the message was accepted: SMTP 2xx, a file written) or raises one
of the three outcomes below. Senders depend on this module only; the outbox, memory and
SMTP transports are interchangeable behind it (Mailman's IMailTransportAgentDelivery idea).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from newsletter.mail.replies import Stage, Verdict


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
    """4xx reply or a connection problem before DATA completed: safe to retry later.

    ``stage``: where a receiver deferred (None: no reply to a transaction of ours, such as a
    refused connection, a 4xx greeting or login). Only a deferral at RCPT TO can be about the
    recipient alone; everything else is about the server or the message every reader shares.
    """

    def __init__(self, reason: str, code: int | None = None, *, stage: Stage | None = None) -> None:
        super().__init__(reason, code)
        self.stage = stage

    @property
    def server_wide(self) -> bool:
        """The server, not this recipient, failed: sending anyone else now fails alike.
        RFC 5321 3.8: 421 means the server is closing the channel, at whatever stage."""
        return self.code == 421 or self.stage is not Stage.RCPT


class PermanentFailure(DeliveryError):
    """A refusal not worth retrying. ``verdict`` says what it means
    (:func:`newsletter.mail.replies.classify`); ``stage`` where the receiver said it (None: it
    never reached a receiver, such as a message that could not be signed)."""

    def __init__(
        self,
        reason: str,
        code: int | None = None,
        *,
        verdict: Verdict = Verdict.CONTENT,
        stage: Stage | None = None,
    ) -> None:
        super().__init__(reason, code)
        self.verdict = verdict
        self.stage = stage

    @property
    def hard_bounce(self) -> bool:
        """The address itself does not work: suppress it."""
        return self.verdict is Verdict.ADDRESS

    @property
    def server_wide(self) -> bool:
        """Every reader would meet it alike, so it says nothing of this one: our return path
        refused (MAIL FROM), the message itself refused at DATA (its size, its content), or a
        message that could not be made (signing, no stage)."""
        if self.stage is Stage.DATA:
            return self.verdict is Verdict.CONTENT
        return self.stage in (None, Stage.MAIL)

    @property
    def from_receiver(self) -> bool:
        """Said by the receiving server about this recipient or message (RCPT TO or DATA)."""
        return self.stage in (Stage.RCPT, Stage.DATA)


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
