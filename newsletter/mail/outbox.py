"""The outbox transport: one ``.eml`` file per message in a folder (the embedded default).

A file is written under a temporary name and renamed into place (``os.replace`` is atomic on
POSIX), so a reader never sees half a message, and a message sent twice overwrites its own file:
the name derives from the Message-ID.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from pathlib import Path

from newsletter.mail.transport import Envelope, Ready, TemporaryFailure


def outbox_name(envelope: Envelope) -> str:
    """A readable, unique file name: Message-ID local part and a sanitized recipient."""
    local = envelope.message_id.strip("<>").split("@", 1)[0]
    who = re.sub(r"[^A-Za-z0-9._+-]", "_", envelope.rcpt_to.replace("@", "_at_"))[:80]
    if len(local) > 60:
        local = hashlib.sha256(local.encode()).hexdigest()[:16]
    return f"{re.sub(r'[^A-Za-z0-9._-]', '_', local)}--{who}.eml"


class OutboxTransport:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def send(self, envelope: Envelope, message: bytes, ready: Ready | None = None) -> None:
        if ready is not None:
            ready()
        target = self.folder / outbox_name(envelope)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with temporary.open("wb") as handle:
                handle.write(message)
            temporary.replace(target)
        except OSError as exc:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
            raise TemporaryFailure(f"outbox {self.folder}: {exc.strerror or exc}") from exc

    def close(self) -> None:
        return None
