"""Message bytes: everything shared by a variant's recipients is encoded once; per recipient
only the placeholder values are encoded and joined with the pre-encoded text, plus a few headers.

Python's ``email`` package costs about 10 ms per 40 KB message (its quoted-printable encoder is
pure Python), and even ``binascii.b2a_qp`` over a whole 60 KB part costs ~0.2 ms. So each part
is split at its placeholders and every literal piece is QP-encoded once, ending in a soft line
break (``=`` CRLF, RFC 2045 6.7 rule 5) unless it ends a line; a recipient's values are encoded
on their own and slotted in. Decoding gives exactly the substituted text.

The result is RFC 5322 / 2045 / 2046 conformant: CRLF line ends, no body line over 76 octets
(RFC 5322 allows 998), header fields folded, non-ASCII in headers as RFC 2047 encoded words,
multipart/alternative with the text part first (RFC 2046 5.1.4: the last part is preferred).
"""

from __future__ import annotations

import binascii
import hashlib
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime, parseaddr

from newsletter.compose.headers import (
    CRLF,
    TAG_HEADER,
    clean,
    encode_address,
    encode_header,
    encode_phrase,
)
from newsletter.compose.personalize import Placeholders, Recipient, escaped
from newsletter.compose.render import RenderedVariant
from newsletter.config import Settings

SOFT_BREAK = b"=\r\n"


def _qp(text: str) -> bytes:
    body = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", CRLF)
    encoded = binascii.b2a_qp(body.encode("utf-8"))
    # b2a_qp copies the data's line ending into its soft breaks, and uses a bare LF when the
    # data has none; every line break in the output must be CRLF (RFC 5322 2.3).
    return encoded.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _escape_leading_dots(encoded: bytes) -> bytes:
    """Write a "." that starts a line as "=2E" (RFC 2045 6.7 allows any octet encoded), so no
    line of a message needs SMTP dot-stuffing (RFC 5321 4.5.2); the transport still checks,
    but no longer has to copy the whole message. A line pushed over 76 octets is split with a
    soft break, never inside an "=XX" escape."""
    if not encoded.startswith(b".") and b"\n." not in encoded:
        return encoded
    lines: list[bytes] = []
    for line in encoded.split(b"\r\n"):
        while line.startswith(b"."):
            line = b"=2E" + line[1:]
            if len(line) <= 76:
                break
            cut = 75
            if line[cut - 1 : cut] == b"=":
                cut -= 1
            elif line[cut - 2 : cut - 1] == b"=":
                cut -= 2
            lines.append(line[:cut] + b"=")
            line = line[cut:]
        lines.append(line)
    return b"\r\n".join(lines)


def _qp_piece(text: str) -> bytes:
    """QP of a piece that the next piece continues on a new line: it ends in a soft break
    unless it ends its own line, so every piece starts a line. Lines stay within 76 octets,
    the soft break's "=" included (RFC 2045 6.7 rule 5), and none starts with a dot."""
    encoded = _escape_leading_dots(_qp(text))
    if not encoded or encoded.endswith(b"\r\n"):
        return encoded
    head, sep, last = encoded.rpartition(b"\r\n")
    if len(last) > 75:
        cut = 75
        if last[cut - 1 : cut] == b"=":  # never split an "=XX" escape
            cut -= 1
        elif last[cut - 2 : cut - 1] == b"=":
            cut -= 2
        last = last[:cut] + SOFT_BREAK + last[cut:]
    return head + sep + last + SOFT_BREAK


def list_id_field(list_id: str) -> str:
    """RFC 2919 ``phrase <id>``: the phrase may need encoding, the id is a dot-atom."""
    phrase, _, rest = list_id.rpartition("<")
    return f"{encode_phrase(phrase, 'List-Id')} <{clean(rest)}".strip()


@dataclass(frozen=True)
class EncodedPart:
    """A part's body as pre-encoded literal pieces (even indexes, bytes) and field names."""

    pieces: tuple[bytes | str, ...]
    escape: bool
    names: frozenset[str] = frozenset()  # the fields the pieces use

    @classmethod
    def of(cls, template: str, nonce: str, *, escape: bool) -> EncodedPart:
        parts = Placeholders(nonce).split(template)
        pieces: list[bytes | str] = [_qp_piece(p) if i % 2 == 0 else p for i, p in enumerate(parts)]
        return cls(tuple(pieces), escape, frozenset(p for p in pieces if isinstance(p, str)))

    def render(self, values: dict[str, str]) -> bytes:
        if self.escape:
            values = escaped(values)
        # each value encoded once: a click token fills every tracked link (40 of them or so)
        encoded = {name: _qp_piece(values[name]) for name in self.names}
        return b"".join(p if isinstance(p, bytes) else encoded[p] for p in self.pieces)


@dataclass(frozen=True)
class MessageTemplate:
    """A variant ready for per-recipient assembly."""

    head: bytes  # header fields common to every recipient, CRLF-terminated
    boundary: str
    html: EncodedPart
    text: EncodedPart

    @classmethod
    def prepare(
        cls,
        variant: RenderedVariant,
        *,
        from_address: str,
        list_id: str,
        feedback_id: str,
    ) -> MessageTemplate:
        name, address = parseaddr(from_address)
        # "=_" cannot occur in quoted-printable output, so this boundary never collides.
        digest = hashlib.sha256(f"{variant.html}{variant.text}".encode()).hexdigest()[:24]
        boundary = f"=_nl_{digest}"
        head = CRLF.join(
            [
                f"From: {encode_address(name, address, 'From')}",
                encode_header("Subject", variant.subject),
                f"List-Id: {list_id_field(list_id)}",
                encode_header("Feedback-ID", feedback_id),
                "MIME-Version: 1.0",
                f'Content-Type: multipart/alternative; boundary="{boundary}"',
            ]
        )
        return cls(
            (head + CRLF).encode("utf-8"),
            boundary,
            EncodedPart.of(variant.html, variant.nonce, escape=True),
            EncodedPart.of(variant.text, variant.nonce, escape=False),
        )

    def build(
        self,
        recipient: Recipient,
        *,
        to_name: str | None,
        message_id: str,
        date: datetime,
        unsubscribe_mailto: str,
        tag: str | None = None,
    ) -> bytes:
        """The whole message for one recipient, as bytes ready for SMTP DATA.

        ``unsubscribe_mailto``: this reader's own unsubscribe address, its signed tag included
        (newsletter.mail.verp.UnsubscribeAddress: ``unsubscribe+7-42-{sig}@...``; a preview's
        names nobody). ``tag``: the signed ``X-Newsletter-Id`` that feedback-loop reports
        quote back (newsletter.mail.verp.MessageTags)."""
        values = recipient.values()
        # RFC 2369 List-Unsubscribe with both an https and a mailto URI, the https one first
        # (RFC 8058 3.1 acts on it; Gmail and Yahoo use it), and RFC 8058's
        # List-Unsubscribe-Post so that mail clients can unsubscribe with one POST. Clients
        # without one-click (Apple Mail, Outlook) send a mail to the mailto, which
        # `newsletter bounces process` applies (newsletter.feedback.unsubscribe_mail).
        headers = [
            f"To: {encode_address(to_name, recipient.email)}",
            f"Date: {format_datetime(date)}",
            f"Message-ID: {clean(message_id)}",
            f"List-Unsubscribe: <{clean(recipient.unsubscribe_url)}>,{CRLF}"
            f" <mailto:{clean(unsubscribe_mailto)}?subject=unsubscribe>",
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        ]
        if tag is not None:
            headers.append(f"{TAG_HEADER}: {clean(tag)}")
        b = self.boundary
        part_head = (
            "Content-Type: text/{}; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable"
        )
        return b"".join(
            [
                self.head,
                (CRLF.join(headers) + CRLF + CRLF).encode("utf-8"),
                f"--{b}{CRLF}{part_head.format('plain')}{CRLF}{CRLF}".encode(),
                self.text.render(values),
                f"{CRLF}--{b}{CRLF}{part_head.format('html')}{CRLF}{CRLF}".encode(),
                self.html.render(values),
                f"{CRLF}--{b}--{CRLF}".encode(),
            ]
        )


def issue_template(
    variant: RenderedVariant, settings: Settings, week_key: str, *, kind: str = "digest"
) -> MessageTemplate:
    """The template of one issue variant with the publication's headers: the one place they
    are chosen, for deliveries, previews and test copies alike. ``kind`` names the stream in
    ``Feedback-ID`` (``digest``, ``test``), so a provider's feedback loop keeps them apart."""
    return MessageTemplate.prepare(
        variant,
        from_address=settings.from_address,
        list_id=settings.list_id,
        feedback_id=feedback_id(week_key, kind, settings.feedback_sender_id),
    )


def feedback_id(week_key: str, kind: str, sender_id: str) -> str:
    """Gmail's ``Feedback-ID: a:b:c:SenderId``: up to three optional identifiers, then the
    SenderId, 5-15 characters, the same on all our mail (Gmail's feedback loop aggregates
    spam reports by each field, counted from the right). Here the campaign is the week
    (``2026-W48``) and the stream the kind (``digest``, ``test``); nothing names a reader.
    A colon in a field would shift the others, so none is kept."""
    if not 5 <= len(sender_id) <= 15 or ":" in sender_id:
        raise ValueError(f"a Feedback-ID SenderId has 5-15 characters, no colon: {sender_id!r}")
    return ":".join(part.replace(":", "") for part in (week_key, kind, sender_id))
