"""The double opt-in message: one transactional mail, built with the standard ``email``
package (one message per sign-up: its speed does not matter, its correctness does)."""

from __future__ import annotations

import html
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from email.utils import format_datetime

from newsletter.compose.headers import TAG_HEADER, recipient_address
from newsletter.compose.message_ids import confirmation_id
from newsletter.config import Settings


def confirmation_message(
    settings: Settings,
    email: str,
    name: str | None,
    link: str,
    now: datetime,
    subscriber_id: int | None = None,
    tag: str | None = None,
) -> tuple[str, bytes]:
    """(Message-ID, bytes ready for SMTP DATA) asking ``email`` to confirm with ``link``.
    The Message-ID, ``<confirm.{subscriber id}.{random}@domain>``, lets a bounce of this
    mail be tied back to the sign-up (newsletter.feedback.bounces); so does ``tag``, signed."""
    site = settings.site_name
    message_id = confirmation_id(subscriber_id, settings.mail_domain)
    greeting = f"Hi {name.split(' ')[0]}," if name else "Hi,"
    text = (
        f"{greeting}\n\n"
        f"Someone, hopefully you, asked to get {site} at this address.\n"
        f"To start getting it, confirm within 7 days:\n\n{link}\n\n"
        "If it was not you, ignore this message: nothing will be sent to you.\n\n"
        f"-- \n{site}\n{settings.postal_address}\n"
    )
    body = (
        f"<p>{html.escape(greeting)}</p>"
        f"<p>Someone, hopefully you, asked to get {html.escape(site)} at this address.</p>"
        f'<p><a href="{html.escape(link)}" style="display:inline-block;padding:10px 18px;'
        f"background:{settings.accent_color};color:#ffffff;text-decoration:none;"
        'border-radius:4px">Confirm my subscription</a></p>'
        "<p>If it was not you, ignore this message: nothing will be sent to you.</p>"
        f'<p style="color:#666666;font-size:12px">{html.escape(settings.postal_address)}</p>'
    )
    # RFC 6532: a UTF-8 local part can only be written as UTF-8, so the whole header block is
    # (the message then needs SMTPUTF8, which the transport asks for or refuses).
    message = EmailMessage(policy=SMTP if email.rpartition("@")[0].isascii() else SMTPUTF8)
    message["From"] = settings.from_address
    # An Address object, never a string to parse: the name is one display name however many
    # "<", "," or "@" it holds, quoted or RFC 2047-encoded by the policy (a formatted string
    # would be parsed again, and its decoded name refolded as extra recipients).
    message["To"] = recipient_address(name, email)
    message["Subject"] = f"Confirm your subscription to {site}"
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to this
    if tag is not None:
        message[TAG_HEADER] = tag  # signed; a feedback loop's report quotes it back
    message.set_content(text)
    message.add_alternative(f"<!DOCTYPE html><html><body>{body}</body></html>", subtype="html")
    return message_id, message.as_bytes()
