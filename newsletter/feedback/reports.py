"""Reading bounce and complaint reports: pure, bytes in, a :class:`Report` out.

Three shapes are understood:

- a delivery status notification, RFC 3464: ``multipart/report; report-type=delivery-status``
  whose ``message/delivery-status`` part holds one block of per-message fields and one block
  per recipient (``Action``, ``Status``, ``Final-Recipient``, ``Diagnostic-Code``);
- a feedback report, RFC 5965 (ARF): ``multipart/report; report-type=feedback-report`` with a
  ``message/feedback-report`` part (``Feedback-Type: abuse``...), what a provider's complaint
  loop sends when someone presses "this is spam";
- a plain-text bounce from an MTA that predates RFC 3464 (qmail, old Exim): from the mailer
  daemon, with an enhanced status code (RFC 3463) in its text.

A report is tied to one of our messages by the identifiers it carries back (see
:func:`newsletter.feedback.bounces.match`): the original Message-ID, found in the attached
original or its headers, and the addresses the report was sent to (a VERP return path).
Anything else raises :class:`NotAReport` with the reason: an auto-reply, a success notice, a
message no parser can read.
"""

from __future__ import annotations

import base64
import binascii
import email
import email.policy
import enum
import quopri
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime

from newsletter.compose.headers import TAG_HEADER
from newsletter.mail.replies import Verdict, classify, status_in


class ReportKind(enum.StrEnum):
    HARD = "hard"  # the address does not work: stop mailing it
    SOFT = "soft"  # it failed this time (mailbox full, policy, retries ran out)
    DELAYED = "delayed"  # a warning: the MTA is still trying
    COMPLAINT = "complaint"  # the recipient reported the message as spam


def report_kind(
    status: str | None, action: str = "failed", diagnostic: str | None = None
) -> ReportKind:
    """What a failure report says about the address, by the one classifier
    (:func:`newsletter.mail.replies.classify`): only a permanent failure of the address itself
    is hard; a full mailbox, a policy block or a refused message say nothing about whether
    the address works, so they are soft, and only their repetition stops the mail
    (``newsletter.subscribers.health``). ``Action: delayed`` is a warning."""
    if action == "delayed":
        return ReportKind.DELAYED
    verdict = classify(status=status, text=diagnostic or "") if status else Verdict.TEMPORARY
    return ReportKind.HARD if verdict is Verdict.ADDRESS else ReportKind.SOFT


class NotAReport(ValueError):
    """The message is neither a bounce nor a complaint we can read; ``str()`` says why."""


@dataclass(frozen=True)
class Report:
    kind: ReportKind
    status: str | None  # RFC 3463 enhanced status code, "5.1.1"
    recipient: str | None  # the address that failed or complained
    diagnostic: str | None  # the remote server's words, for the operator
    message_ids: tuple[str, ...]  # Message-IDs of the original, as found
    addressed_to: tuple[str, ...]  # where the report was delivered: a VERP address, if any
    date: datetime | None  # when the report was written (its Date field)
    feedback_type: str | None = None
    # Every address the report says the message was for (Final-Recipient, Original-Recipient,
    # Original-Rcpt-To), lower-cased: checked against the subscriber's (bounces.py).
    recipients: tuple[str, ...] = ()
    # X-Newsletter-Id values quoted from the original (signed tags; bounces.py verifies them)
    tags: tuple[str, ...] = ()


_MESSAGE_ID = re.compile(r"<[^<>\s@]+@[^<>\s]+>")
# Where an MTA says who the report was for; the bounce's own To is the envelope sender of
# the original message, i.e. our VERP address (RFC 3464 2.2; RFC 5321 4.5.5).
_DELIVERED_TO = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To")
_TAG_FIELD = re.compile(rf"^[ \t>]*{TAG_HEADER}:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)
_MAX_TAGS = 20  # a genuine report quotes one message; checking thousands would be a chore
_COMPLAINTS = frozenset({"abuse", "fraud", "virus", "other"})
_DAEMON = re.compile(r"mailer-daemon|postmaster|mail delivery (sub)?system", re.IGNORECASE)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|delivery (status|failure|has failed)|failure notice|returned mail"
    r"|mail delivery failed|delivery notification|could not be delivered",
    re.IGNORECASE,
)


def parse_report(raw: bytes) -> Report:
    """The bounce or complaint in ``raw``; :class:`NotAReport` if it is neither."""
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    except Exception as exc:  # the parser is lenient; this is a last resort
        raise NotAReport(f"unreadable message: {exc}") from exc
    if not raw.strip() or not msg.keys():
        raise NotAReport("empty or headerless message")
    report_type = str(msg.get_param("report-type", "", header="content-type") or "").lower()
    if msg.get_content_type() == "multipart/report" or report_type:
        if report_type == "feedback-report" or _find(msg, "message/feedback-report"):
            return _feedback(msg)
        if report_type == "delivery-status" or _find(msg, "message/delivery-status"):
            return _dsn(msg)
    status_part = _find(msg, "message/delivery-status")
    if status_part is not None:  # a DSN wrapped in something else (a forward, a digest)
        return _dsn(msg)
    return _plain_bounce(msg)


def _find(msg: Message, content_type: str) -> Message | None:
    for part in msg.walk():
        if part.get_content_type() == content_type:
            return part
    return None


def _header_blocks(part: Message) -> list[Message]:
    """The field blocks of a message/delivery-status or message/feedback-report part. The
    email package splits both into blocks already, but reads base64 or quoted-printable
    text as if it were plain fields, so an encoded part is joined, decoded and split again."""
    payload = part.get_payload()
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if isinstance(payload, list):
        blocks = [p for p in payload if isinstance(p, Message)]
        if encoding not in ("base64", "quoted-printable"):
            return blocks
        text = "\n\n".join(b.as_string() for b in blocks)
    else:
        text = payload if isinstance(payload, str) else ""
    if encoding == "base64":
        try:
            text = base64.b64decode("".join(text.split())).decode("utf-8", "replace")
        except (binascii.Error, ValueError) as exc:
            raise NotAReport(f"a report part that is not valid base64: {exc}") from exc
    elif encoding == "quoted-printable":
        text = quopri.decodestring(text.encode("utf-8", "replace")).decode("utf-8", "replace")
    chunks = re.split(r"\r?\n\s*\r?\n", text.strip())
    compat = email.policy.compat32
    return [email.message_from_string(c.strip() + "\n", policy=compat) for c in chunks]


def _value(block: Message, name: str) -> str | None:
    """A field's value without the RFC 3464 type prefix ("rfc822; ", "smtp; ")."""
    raw = block.get(name)
    if raw is None:
        return None
    text = " ".join(str(raw).split())
    kind, sep, rest = text.partition(";")
    return (rest if sep and re.fullmatch(r"[A-Za-z0-9-]+", kind.strip()) else text).strip() or None


def _status_of(block: Message) -> str | None:
    """The block's Status, unless it is an unspecific x.0.0 and the Diagnostic-Code names a
    more specific one of the same class (Exim: "Status: 5.0.0" with "552-5.2.2 ... quota")."""
    status = status_in(str(block.get("Status", "")))
    diagnostic = status_in(str(block.get("Diagnostic-Code", "")))
    if status is None:
        return diagnostic
    if (
        status.endswith(".0.0")
        and diagnostic is not None
        and not diagnostic.endswith(".0.0")
        and diagnostic[0] == status[0]
    ):
        return diagnostic
    return status


def _dsn(msg: Message) -> Report:
    part = _find(msg, "message/delivery-status")
    if part is None:
        raise NotAReport("a delivery-status report without a message/delivery-status part")
    blocks = _header_blocks(part)
    recipients = [b for b in blocks[1:] if b.get("Action") or b.get("Final-Recipient")]
    if not recipients:  # some MTAs run the per-message and first recipient block together
        recipients = [b for b in blocks if b.get("Action") or b.get("Final-Recipient")]
    chosen: Message | None = None
    for wanted in ("failed", "delayed"):
        chosen = next(
            (b for b in recipients if str(b.get("Action", "")).strip().lower() == wanted), None
        )
        if chosen is not None:
            break
    if chosen is None:
        actions = sorted({str(b.get("Action", "")).strip().lower() for b in recipients})
        raise NotAReport(f"a delivery status notification with no failure ({', '.join(actions)})")
    action = str(chosen.get("Action")).strip().lower()
    status = _status_of(chosen)
    diagnostic = _value(chosen, "Diagnostic-Code")
    named = [_address(_value(chosen, f)) for f in ("Final-Recipient", "Original-Recipient")]
    addresses = tuple(dict.fromkeys(a.lower() for a in named if a))
    return Report(
        kind=report_kind(status, action, diagnostic),
        status=status,
        recipient=addresses[0] if addresses else None,
        diagnostic=diagnostic,
        message_ids=_original_ids(msg),
        addressed_to=_addressed_to(msg),
        date=_date(msg),
        tags=_tags(msg),
        recipients=addresses,
    )


def _feedback(msg: Message) -> Report:
    part = _find(msg, "message/feedback-report")
    if part is None:
        raise NotAReport("a feedback report without a message/feedback-report part")
    fields = _header_blocks(part)[0] if _header_blocks(part) else Message()
    feedback_type = (str(fields.get("Feedback-Type", "")).strip().lower()) or None
    if feedback_type not in _COMPLAINTS:
        raise NotAReport(f"a feedback report of type {feedback_type!r}, not a complaint")
    mail_from = _address(_value(fields, "Original-Mail-From"))
    rcpt_to = [str(v) for v in fields.get_all("Original-Rcpt-To", [])]
    recipients = tuple(dict.fromkeys(a.lower() for _n, a in getaddresses(rcpt_to) if "@" in a))
    return Report(
        kind=ReportKind.COMPLAINT,
        status=None,
        recipients=recipients,
        recipient=recipients[0] if recipients else None,
        diagnostic=None,
        message_ids=_original_ids(msg),
        addressed_to=_addressed_to(msg) + ((mail_from,) if mail_from else ()),
        date=_date(msg),
        tags=_tags(msg),
        feedback_type=feedback_type,
    )


def _plain_bounce(msg: Message) -> Report:
    sender = f"{msg.get('From', '')} {msg.get('Return-Path', '')}"
    subject = str(msg.get("Subject", ""))
    # RFC 3834: a vacation message says "auto-replied"; so do MTAs' bounces (Postfix), but
    # those come from the mailer daemon.
    auto = str(msg.get("Auto-Submitted", "")).strip().lower()
    if auto.startswith("auto-replied") and not _DAEMON.search(sender):
        raise NotAReport("an auto-reply (Auto-Submitted: auto-replied), not a bounce")
    if not (_DAEMON.search(sender) or _BOUNCE_SUBJECT.search(subject)):
        raise NotAReport("not a report: neither multipart/report nor from a mailer daemon")
    text = _text_of(msg)
    status = status_in(text)
    if status is None:
        raise NotAReport("a mailer-daemon message with no SMTP status code in its text")
    # qmail: "<user@example.org>:" before the remote server's words
    named = re.findall(r"<([^<>\s@]+@[^<>\s]+)>:", text)
    recipients = tuple(dict.fromkeys(a.lower() for a in named))
    line = next((ln.strip() for ln in text.splitlines() if status in ln), None)
    return Report(
        kind=report_kind(status, "failed", line),
        status=status,
        recipient=recipients[0] if recipients else None,
        diagnostic=line,
        message_ids=tuple(dict.fromkeys(_MESSAGE_ID.findall(text))),
        addressed_to=_addressed_to(msg),
        date=_date(msg),
        tags=_tags(msg),
        recipients=recipients,
    )


def _text_of(msg: Message) -> str:
    chunks: list[str] = []
    for part in msg.walk():
        if part.get_content_maintype() == "text":
            data = part.get_payload(decode=True)
            if isinstance(data, bytes):
                charset = part.get_content_charset() or "utf-8"
                try:
                    chunks.append(data.decode(charset, "replace"))
                except LookupError:
                    chunks.append(data.decode("utf-8", "replace"))
    return "\n".join(chunks)


def _original_ids(msg: Message) -> tuple[str, ...]:
    """Message-IDs of the original message, best sources first: the attached message or its
    headers, then any Message-ID-shaped text in the report (Outlook quotes headers as text).
    The report's own Message-ID is never one of them."""
    found: list[str] = []
    own = str(msg.get("Message-ID", "")).strip()
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(inner, Message) and inner.get("Message-ID"):
                found.append(str(inner["Message-ID"]).strip())
        elif ctype == "text/rfc822-headers":
            data = part.get_payload(decode=True)
            text = data.decode("utf-8", "replace") if isinstance(data, bytes) else ""
            headers = email.message_from_string(text, policy=email.policy.compat32)
            if headers.get("Message-ID"):
                found.append(" ".join(str(headers["Message-ID"]).split()))
    found.extend(_MESSAGE_ID.findall(_text_of(msg)))
    return tuple(i for i in dict.fromkeys(found) if i and i != own)


def _tags(msg: Message) -> tuple[str, ...]:
    """Every ``X-Newsletter-Id`` value the report carries: in the attached original, in its
    quoted headers, or as text. Found anywhere, since only a valid signature makes one count."""
    found: list[str] = []
    for part in msg.walk():
        found.extend(" ".join(str(v).split()) for v in part.get_all(TAG_HEADER, []))
        if part.get_content_type() == "text/rfc822-headers":
            data = part.get_payload(decode=True)
            text = data.decode("utf-8", "replace") if isinstance(data, bytes) else ""
            found.extend(_TAG_FIELD.findall(text))
    found.extend(_TAG_FIELD.findall(_text_of(msg)))
    return tuple(t for t in dict.fromkeys(found) if t)[:_MAX_TAGS]


def _addressed_to(msg: Message) -> tuple[str, ...]:
    values = [str(v) for name in _DELIVERED_TO for v in msg.get_all(name, [])]
    return tuple(dict.fromkeys(a.lower() for _n, a in getaddresses(values) if "@" in a))


def _address(value: str | None) -> str | None:
    if not value:
        return None
    addresses = [a for _n, a in getaddresses([value]) if "@" in a]
    return addresses[0] if addresses else None


def _date(msg: Message) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(str(msg.get("Date", "")))
    except (TypeError, ValueError, IndexError):
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
