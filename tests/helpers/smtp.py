"""A loopback SMTP server that records what it receives (aiosmtpd), with scripted refusals."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiosmtpd.controller import Controller

from tests.helpers.env import free_port


class Recorder:
    """aiosmtpd handler: records messages; some recipients get 4xx or 5xx replies
    (``busy...``: 451, ``nobody...``: 550 5.1.1, ``blocked...``: 550 5.7.1 at RCPT TO;
    ``toobig...``: 552 5.3.4 after DATA)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.sessions = 0

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.startswith("busy"):
            return "451 4.3.0 try again later"
        if address.startswith("nobody"):
            return "550 5.1.1 no such user"
        if address.startswith("blocked"):
            return "550 5.7.1 message refused by the recipient's policy"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if any(rcpt.startswith("toobig") for rcpt in envelope.rcpt_tos):
            return "552 5.3.4 message too big for system"
        self.messages.append(
            (envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
        )
        return "250 2.0.0 queued"

    @property
    def recipients(self) -> list[str]:
        return [rcpt for _, rcpts, _ in self.messages for rcpt in rcpts]


@contextmanager
def serving(handler: Any, *, smtputf8: bool = True) -> Iterator[int]:
    """Run ``handler`` on a free loopback port for the block; yields the port. ``smtputf8``:
    whether the server offers SMTPUTF8 (RFC 6531), as aiosmtpd does by default."""
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, enable_SMTPUTF8=smtputf8)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()
