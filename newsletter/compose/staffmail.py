"""Mail to the staff: "this week's draft is ready for review" (pure: data in, bytes out).

One short transactional message per editor or operator, built with the standard ``email``
package (a handful per week: its speed does not matter). It names the issue, its subject, when
it goes out in the publication's zone, and links the preview desk, where it can be held,
edited or approved.
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
    message = EmailMessage(policy=SMTP if to.rpartition("@")[0].isascii() else SMTPUTF8)
    message["From"] = settings.from_address
    message["To"] = to
    message["Subject"] = f"[{site}] Ready for review: {notice.subject}"
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to this
    message.set_content("\n".join(lines) + "\n")
    message.add_alternative(f"<!DOCTYPE html><html><body>{body}</body></html>", subtype="html")
    return message_id, message.as_bytes()
