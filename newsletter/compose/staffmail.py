"""Mail to the staff (pure: data in, bytes out): "this week's draft is ready for review", and
"a scheduled send is held by the pre-flight check".

One short transactional message per editor or operator, built with the standard ``email``
package (a handful per week: its speed does not matter). It names the issue, its subject, when
it goes out in the publication's zone (or what holds it), and links the preview desk.
"""

from __future__ import annotations

import html
import secrets
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from email.utils import format_datetime

from newsletter.config import Settings


@dataclass(frozen=True)
class ReviewNotice:
    issue_id: int
    week_key: str
    subject: str  # the issue's subject line
    send_text: str  # when it goes out, in the publication's zone ("2026-12-11 09:00 EST (-05:00)")
    desk_url: str  # the preview desk of the issue
    new: int
    trending: int


def review_message(
    settings: Settings, to: str, notice: ReviewNotice, now: datetime
) -> tuple[str, bytes]:
    """(Message-ID, bytes for SMTP DATA) telling ``to`` that a draft waits for review."""
    site = settings.site_name
    message_id = f"<review.{notice.issue_id}.{secrets.token_hex(6)}@{settings.mail_domain}>"
    lines = [
        f"The {site} issue for {notice.week_key} is ready for review.",
        "",
        f"Subject: {notice.subject}",
        f"Reviews: {notice.new} new, {notice.trending} trending",
        f"Goes out: {notice.send_text}, unless an editor holds it.",
        "",
        f"Preview, edit, hold or approve it at:\n{notice.desk_url}",
        "",
        f"-- \n{site}",
    ]
    body = "".join(
        [
            f"<p>The {html.escape(site)} issue for {html.escape(notice.week_key)} is ready for "
            "review.</p>",
            f"<p><strong>{html.escape(notice.subject)}</strong><br>",
            f"{notice.new} new, {notice.trending} trending reviews<br>",
            f"Goes out <strong>{html.escape(notice.send_text)}</strong>, unless an editor "
            "holds it.</p>",
            f'<p><a href="{html.escape(notice.desk_url)}" style="display:inline-block;'
            f"padding:10px 18px;background:{settings.accent_color};color:#ffffff;"
            'text-decoration:none;border-radius:4px">Open the preview desk</a></p>',
        ]
    )
    subject = f"[{site}] Ready for review: {notice.subject}"
    return message_id, _message(settings, to, subject, message_id, now, lines, body)


@dataclass(frozen=True)
class HeldNotice:
    issue_id: int
    week_key: str
    subject: str
    errors: tuple[str, ...]  # each error of the check, with its fix
    desk_url: str


def held_message(
    settings: Settings, to: str, notice: HeldNotice, now: datetime
) -> tuple[str, bytes]:
    """(Message-ID, bytes) telling ``to`` that the pre-flight check holds a scheduled send."""
    site = settings.site_name
    message_id = f"<held.{notice.issue_id}.{secrets.token_hex(6)}@{settings.mail_domain}>"
    count = len(notice.errors)
    lines = [
        f"The {site} issue for {notice.week_key} is due but not sent: the pre-flight check "
        f"found {count} error{'s' if count != 1 else ''}. It goes out by itself once the "
        "check passes.",
        "",
        f"Subject: {notice.subject}",
        "",
        *[f"- {error}" for error in notice.errors],
        "",
        f"See the check and fix the draft at:\n{notice.desk_url}#check",
        "",
        f"-- \n{site}",
    ]
    items = "".join(f"<li>{html.escape(error)}</li>" for error in notice.errors)
    body = (
        f"<p>The {html.escape(site)} issue for {html.escape(notice.week_key)} is due but not "
        f"sent: the pre-flight check found {count} error{'s' if count != 1 else ''}. It goes "
        f"out by itself once the check passes.</p><p><strong>{html.escape(notice.subject)}"
        f"</strong></p><ul>{items}</ul>"
        f'<p><a href="{html.escape(notice.desk_url)}#check">Open the pre-flight check</a></p>'
    )
    subject = f"[{site}] Held by the pre-flight check: {notice.subject}"
    return message_id, _message(settings, to, subject, message_id, now, lines, body)


def _message(
    settings: Settings,
    to: str,
    subject: str,
    message_id: str,
    now: datetime,
    lines: list[str],
    body: str,
) -> bytes:
    message = EmailMessage(policy=SMTP if to.rpartition("@")[0].isascii() else SMTPUTF8)
    message["From"] = settings.from_address
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to this
    message.set_content("\n".join(lines) + "\n")
    message.add_alternative(f"<!DOCTYPE html><html><body>{body}</body></html>", subtype="html")
    return message.as_bytes()
