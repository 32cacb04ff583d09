"""Where bounce and complaint reports are read from: a maildir, an mbox, an IMAP mailbox.

:func:`open_mailbox` turns the ``SOURCE`` of ``newsletter bounces process`` into a
:class:`Mailbox`: an iterator of ``(key, raw bytes)`` plus :meth:`Mailbox.done`, called after
a message's outcome is committed. By default nothing is removed: the ``bounce_reports`` table
makes a second run over the same messages a no-op. With ``delete`` (``--delete``), :meth:`done`
removes each message once its outcome is committed, as Mailman and listmonk consume their
bounce mailboxes. On IMAP, processed messages get the keyword ``$NewsletterProcessed`` and
only messages without it are fetched, so someone reading the folder in a mail client (which
sets ``\\Seen``) hides nothing; a server that allows no keywords gets ``\\Seen`` instead.

Every message is read up to ``limit`` bytes plus one (``NEWSLETTER_BOUNCE_MAX_BYTES``), from a
file or with an IMAP partial fetch, so a huge message in the bounce mailbox costs no more
memory than the limit; the caller records a message that reached the limit as too large.
"""

from __future__ import annotations

import contextlib
import imaplib
import mailbox
import os
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from newsletter.config import redact_url
from newsletter.errors import ConfigError, InputError, WorkError

DEFAULT_LIMIT = 2 * 1024 * 1024  # NEWSLETTER_BOUNCE_MAX_BYTES's default


class Mailbox(Protocol):
    name: str

    def __iter__(self) -> Iterator[tuple[str, bytes]]: ...

    def done(self, key: str) -> None: ...

    def close(self) -> None: ...


class LocalMailbox:
    """A maildir folder (``cur``/``new``/``tmp``) or an mbox file."""

    def __init__(self, path: Path, *, delete: bool = False, limit: int = DEFAULT_LIMIT) -> None:
        self.name = str(path)
        self._delete = delete
        self._limit = limit
        self._box: mailbox.Mailbox[mailbox.Message]
        if path.is_dir():
            if not ((path / "cur").is_dir() and (path / "new").is_dir()):
                raise InputError(f"{path}: not a maildir (no cur/ and new/ folders in it)")
            self._box = mailbox.Maildir(path, factory=None, create=False)
        elif path.is_file():
            with path.open("rb") as handle:
                first = handle.read(5)
            if first and first != b"From ":
                raise InputError(f"{path}: not an mbox file (it does not start with 'From ')")
            self._box = mailbox.mbox(path, factory=None, create=False)
            if delete:
                self._box.lock()  # mbox is one file: no other writer while we rewrite it
        else:
            raise InputError(f"{path}: no such maildir folder or mbox file")

    def __iter__(self) -> Iterator[tuple[str, bytes]]:
        try:
            # str keys for the caller; an mbox's own are ints
            self._keys: dict[str, Any] = {str(k): k for k in self._box.iterkeys()}
            for name in sorted(self._keys):
                with contextlib.closing(self._box.get_file(self._keys[name])) as handle:
                    yield name, handle.read(self._limit + 1)
        except OSError as exc:
            raise InputError(f"{self.name}: cannot read it: {exc.strerror or exc}") from exc

    def done(self, key: str) -> None:
        """With ``delete``: remove the message (an mbox is rewritten once, on close)."""
        if self._delete:
            self._box.remove(self._keys[key])

    def close(self) -> None:
        if isinstance(self._box, mailbox.mbox) and self._delete:
            self._box.flush()
            self._box.unlock()
        self._box.close()


KEYWORD = "$NewsletterProcessed"


class ImapMailbox:
    """The unprocessed messages of one IMAP mailbox (``imaps://user:password@host/Bounces``)."""

    def __init__(
        self,
        url: str,
        variable: str = "NEWSLETTER_BOUNCE_IMAP_URL",
        *,
        delete: bool = False,
        limit: int = DEFAULT_LIMIT,
    ) -> None:
        self._delete = delete
        self._limit = limit
        self._deleted = False
        parts = urlsplit(url)
        if parts.scheme not in ("imap", "imaps") or not parts.hostname:
            got = redact_url(url)
            raise ConfigError(variable, f"expected imaps://user:password@host/MAILBOX, got {got!r}")
        self.name = f"{parts.scheme}://{parts.hostname}{parts.path or '/INBOX'}"
        folder = unquote(parts.path.lstrip("/")) or "INBOX"
        try:
            if parts.scheme == "imaps":
                self._imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    parts.hostname, parts.port or 993, ssl_context=ssl.create_default_context()
                )
            else:
                self._imap = imaplib.IMAP4(parts.hostname, parts.port or 143)
        except (OSError, imaplib.IMAP4.error) as exc:
            raise WorkError(f"{self.name}: cannot connect: {exc}") from exc
        try:
            if parts.scheme == "imap" and "STARTTLS" in self._imap.capabilities:
                self._imap.starttls(ssl.create_default_context())
            if parts.username:
                self._imap.login(unquote(parts.username), unquote(parts.password or ""))
            kind, _ = self._imap.select(_quote(folder))
            if kind != "OK":
                raise InputError(f"{self.name}: no such IMAP mailbox")
            # RFC 3501 7.1: "\*" in PERMANENTFLAGS means new keywords can be stored
            _code, flags = self._imap.response("PERMANENTFLAGS")
            allowed = b" ".join(f for f in flags if isinstance(f, bytes))
            self._mark = KEYWORD if b"\\*" in allowed else "\\Seen"
        except (OSError, imaplib.IMAP4.error, InputError) as exc:
            self._imap.shutdown()
            if isinstance(exc, InputError):
                raise
            raise WorkError(f"{self.name}: {exc}") from exc

    def __iter__(self) -> Iterator[tuple[str, bytes]]:
        try:
            wanted = "UNSEEN" if self._mark == "\\Seen" else f"UNKEYWORD {KEYWORD}"
            kind, data = self._imap.uid("SEARCH", wanted)
            uids = data[0].split() if kind == "OK" and data and data[0] else []
            for uid in uids:
                # BODY.PEEK sets no \Seen: the message is marked in done(), after the commit
                # RFC 3501 6.4.5: a partial fetch, <origin.octets>: never more than the limit
                wanted = f"(BODY.PEEK[]<0.{self._limit + 1}>)"
                kind, parts = self._imap.uid("FETCH", uid, wanted)
                body = next((p[1] for p in parts if isinstance(p, tuple)), None)
                if kind == "OK" and isinstance(body, bytes):
                    yield uid.decode(), body
        except (OSError, imaplib.IMAP4.error) as exc:
            raise WorkError(f"{self.name}: {exc}") from exc

    def done(self, key: str) -> None:
        flag = "\\Deleted" if self._delete else self._mark
        try:
            self._imap.uid("STORE", key, "+FLAGS", f"({flag})")
        except (OSError, imaplib.IMAP4.error) as exc:
            raise WorkError(f"{self.name}: {exc}") from exc
        self._deleted = self._deleted or self._delete

    def close(self) -> None:
        with contextlib.suppress(OSError, imaplib.IMAP4.error):
            if self._deleted:
                self._imap.expunge()
            self._imap.logout()


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def open_mailbox(
    source: str, imap_url: str | None, *, delete: bool = False, limit: int = DEFAULT_LIMIT
) -> Mailbox:
    """``imap`` means NEWSLETTER_BOUNCE_IMAP_URL; an imap(s):// URL is used as given;
    anything else is a maildir folder or an mbox file."""
    if source == "imap":
        if not imap_url:
            raise InputError("imap: NEWSLETTER_BOUNCE_IMAP_URL is not set")
        return ImapMailbox(imap_url, delete=delete, limit=limit)
    if source.startswith(("imap://", "imaps://")):
        return ImapMailbox(source, variable="SOURCE", delete=delete, limit=limit)
    if "://" in source:
        raise InputError(
            f"{redact_url(source)}: expected a maildir folder, an mbox file or an imap(s):// URL"
        )
    return LocalMailbox(Path(source), delete=delete, limit=limit)


def keep_aside(folder: Path, digest: str, raw: bytes) -> Path:
    """Write ``raw`` to ``folder/<digest>.eml`` (atomically; the same message twice is one
    file) for an operator to look at."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{digest}.eml"
    if not target.exists():
        temporary = folder / f".{digest}.{os.getpid()}.tmp"
        temporary.write_bytes(raw)
        temporary.replace(target)
    return target
