"""An in-memory transport for tests (django-anymail ships its test backend the same way).

It records every accepted message, and can be told to fail for chosen recipients.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from newsletter.mail.transport import DeliveryError, Envelope, Ready


@dataclass
class MemoryTransport:
    sent: list[tuple[Envelope, bytes]] = field(default_factory=list)
    failures: dict[str, DeliveryError] = field(default_factory=dict)
    closed: int = 0

    def send(self, envelope: Envelope, message: bytes, ready: Ready | None = None) -> None:
        if ready is not None:
            ready()
        failure = self.failures.get(envelope.rcpt_to)
        if failure is not None:
            raise failure
        self.sent.append((envelope, message))

    def close(self) -> None:
        self.closed += 1

    @property
    def recipients(self) -> list[str]:
        return [envelope.rcpt_to for envelope, _ in self.sent]
