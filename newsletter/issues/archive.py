"""The public archive: the issues that went out, and each one as anyone may read it.

An archive copy is the issue with every section (the category mask 0 variant), rendered now
from the stored issue through the same templates as the mail, but never tracked and never
personalized: no click redirects, no open pixel, and none of a subscriber's signed links
(unsubscribe, preferences, view online) nor their name or address. The footer that tells a
recipient why they got the mail becomes an invitation to sign up; the links that were the
recipient's own point to the sign-up page and the archive instead.

Only issues that went out are in the archive: status ``sent``, or sending again (or paused)
after a finished send, while an operator retries its failed rows (the send stamped
``sent_at`` when it first finished). A draft, a scheduled issue, one whose first send is still
running, and a cancelled one are not. A week holds at most one live issue, so a cancelled and
rebuilt week shows the issue that was sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import lxml.html
from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session, selectinload

from newsletter.compose.content import Branding
from newsletter.compose.personalize import Placeholders
from newsletter.compose.render import render_variant
from newsletter.config import Settings
from newsletter.errors import NotFound
from newsletter.issues.content import load_content
from newsletter.models import Issue, IssueItem, IssueStatus

WEEK_KEY = re.compile(r"\d{4}-W\d{2}")
HOME, ARCHIVE = "/", "/archive"  # the public pages an archive copy links to (same site)
# What stands in for the per-recipient values the template still holds after the rewrite.
NEUTRAL = {
    "greeting_name": "there",
    "email": "",
    "picks": "",
    "unsubscribe_url": HOME,
    "preferences_url": HOME,
    "view_online_url": ARCHIVE,
    "click_token": "",
}


def went_out() -> ColumnElement[bool]:
    """The issues the archive holds (see the module's docstring)."""
    retried = (IssueStatus.SENDING, IssueStatus.PAUSED)
    return or_(
        Issue.status == IssueStatus.SENT,
        and_(Issue.status.in_(retried), Issue.sent_at.is_not(None)),
    )


@dataclass(frozen=True)
class ArchiveEntry:
    """One sent issue as the archive lists it. ``sent_at`` is UTC."""

    issue_id: int
    week_key: str
    subject: str
    sent_at: datetime


def sent_issues(
    session: Session, settings: Settings, *, limit: int | None = None
) -> list[ArchiveEntry]:
    """Sent issues, newest first (by when the send finished, then by week): every one, or
    the ``limit`` newest."""
    # The sender stamps sent_at when the last batch ends; the fallbacks only order a row
    # marked sent by other means.
    finished = func.coalesce(Issue.sent_at, Issue.send_at, Issue.updated_at)
    issues = session.scalars(
        select(Issue)
        .where(went_out())
        .order_by(finished.desc(), Issue.week_key.desc(), Issue.id.desc())
        .limit(limit)
        .options(selectinload(Issue.items).selectinload(IssueItem.review))
    ).all()
    return [
        ArchiveEntry(
            issue.id,
            issue.week_key,
            subject_of(session, settings, issue.id),
            issue.sent_at or issue.send_at or issue.updated_at,
        )
        for issue in issues
    ]


def subject_of(session: Session, settings: Settings, issue_id: int) -> str:
    """The subject everyone-with-every-section got: the editor's, else the automatic one."""
    content = load_content(session, issue_id, settings.timezone)
    subject = content.resolved(settings.site_name).subject
    assert subject is not None  # resolved() always writes one
    return subject


def sent_issue_of_week(session: Session, week_key: str) -> int:
    """The id of ``week_key``'s sent issue; :class:`NotFound` for a malformed week, a week
    with no issue, or one whose issue did not go out."""
    if not WEEK_KEY.fullmatch(week_key):
        raise NotFound(f"no issue {week_key[:20]!r} in the archive")
    found = session.scalar(
        select(Issue.id)
        .where(Issue.week_key == week_key, went_out())
        .order_by(Issue.sent_at.desc(), Issue.id.desc())
        .limit(1)
    )
    if found is None:
        raise NotFound(f"no issue {week_key} in the archive")
    return found


def archive_copy(session: Session, settings: Settings, week_key: str) -> str:
    """The HTML of ``week_key``'s sent issue, every section, with no personal link."""
    issue_id = sent_issue_of_week(session, week_key)
    content = load_content(session, issue_id, settings.timezone)
    variant = render_variant(content, 0, Branding.from_settings(settings))
    return depersonalize(variant.html, variant.nonce, settings.site_name)


def depersonalize(html: str, nonce: str, site_name: str) -> str:
    """A rendered (untracked) variant's HTML with its per-recipient parts replaced (pure).

    The paragraph naming the recipient's address becomes a line about the archive; the
    recipient's links become links to the sign-up page and the archive; whatever placeholder
    is left gets a neutral value ("Hi there,")."""
    marks = Placeholders(nonce).marks
    doc = lxml.html.document_fromstring(html)
    for paragraph in doc.iter("p"):
        if marks["email"] in paragraph.text_content():
            _replace_children(paragraph, f"An issue of {site_name}, from the archive.")
    footer_links = {marks["preferences_url"], marks["unsubscribe_url"]}
    for link in list(doc.iter("a")):
        href = link.get("href", "")
        parent = link.getparent()
        if href in footer_links and parent is not None and parent.tag == "p":
            _replace_children(parent, "")
            parent.append(_link(link, HOME, "Get it by email", " \u00b7 "))
            parent.append(_link(link, ARCHIVE, "All issues"))
        elif href == marks["view_online_url"]:
            link.set("href", ARCHIVE)
            link.text = "All issues"
    out = lxml.html.tostring(doc, encoding="unicode", method="html", doctype="<!DOCTYPE html>")
    out = Placeholders(nonce).substitute(out, NEUTRAL, escape=True)
    # A mark the template gains later must never leak as text or a broken link.
    return re.sub(rf"__nl{re.escape(nonce)}_\w+__", "", out)


def _replace_children(element: lxml.html.HtmlElement, text: str) -> None:
    for child in list(element):
        element.remove(child)
    element.text = text


def _link(
    like: lxml.html.HtmlElement, href: str, text: str, tail: str = ""
) -> lxml.html.HtmlElement:
    """A link styled as ``like`` (the mail's own footer link), followed by ``tail``."""
    link = lxml.html.Element("a", href=href)
    if like.get("style"):
        link.set("style", like.get("style", ""))
    link.text, link.tail = text, tail
    return link
