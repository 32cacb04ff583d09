"""Editors' changes to a draft, and the size guard every draft passes after a change.

``edit_issue`` sets the subject, preheader and intro, pins reviews in (by URL), drops them and
moves them to a position in their section; pins and moves are the editor's word, so the size
guard never drops them. Only a draft can be edited: once sending starts, recipients may
already hold the issue. Every edit re-composes the draft (its stored variants are discarded
and its version goes up) and then re-checks the size budget (``compose.budget``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from newsletter.compose.budget import HTML_BUDGET, fit
from newsletter.compose.content import Branding
from newsletter.config import Settings
from newsletter.errors import InputError
from newsletter.ingest.urls import canonical_url, url_key
from newsletter.issues import get_issue, load_content
from newsletter.models import Issue, IssueItem, IssueStatus, IssueVariant, Review, Section

HEADER_LIMIT = 200


@dataclass(frozen=True)
class Edits:
    subject: str | None = None  # "" goes back to the automatic subject
    preheader: str | None = None
    intro: str | None = None
    pins: tuple[str, ...] = ()
    drops: tuple[str, ...] = ()
    moves: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class Trimmed:
    """What the size guard did: URLs dropped to fit, and whether it still does not fit."""

    dropped: tuple[str, ...] = ()
    over_budget: bool = False
    size: int = 0


@dataclass(frozen=True)
class EditResult:
    issue_id: int
    version: int
    new: int
    trending: int
    trimmed: Trimmed


def header_text(option: str, value: str) -> str | None:
    """A subject or preheader: one line of printable text (a CR or LF in a header value
    would start a header of its own, RFC 5322 2.2). ``""`` means "automatic" (``None``)."""
    if "\r" in value or "\n" in value:
        raise InputError(f"{option}: a line break is not allowed in a mail header")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise InputError(f"{option}: control characters are not allowed")
    text = " ".join(value.split())
    if len(text) > HEADER_LIMIT:
        raise InputError(f"{option}: {len(text)} characters, at most {HEADER_LIMIT}")
    return text or None


def parse_move(text: str) -> tuple[str, int]:
    """``URL:POSITION`` (the URL's own colons are fine: the position is after the last)."""
    url, sep, position = text.rpartition(":")
    if not sep or not url or not position.isdigit() or int(position) < 1:
        raise InputError(f"--move {text!r}: expected URL:POSITION, e.g. https://site/review/:1")
    return url, int(position)


def place(order: list[int], review_id: int, position: int) -> list[int]:
    """``order`` with ``review_id`` moved to 1-based ``position`` (clamped to the end)."""
    rest = [r for r in order if r != review_id]
    index = min(position, len(rest) + 1) - 1
    return [*rest[:index], review_id, *rest[index:]]


def _review(session: Session, url: str, option: str) -> Review:
    canonical = canonical_url(url)
    key = url_key(url)
    if not canonical or not key:
        raise InputError(f"{option} {url!r}: not an http(s) URL")
    found = session.scalars(
        select(Review).where(or_(Review.url == canonical, Review.url_key == key)).limit(1)
    ).first()
    if found is None:
        raise InputError(f"{option} {url}: no stored review at that URL (ingest it first)")
    return found


def _renumber(issue: Issue) -> None:
    """Live items 1..n in each section, dropped ones after them, order otherwise kept."""
    for section in (Section.NEW, Section.TRENDING):
        items = [i for i in issue.items if i.section == section]
        items.sort(key=lambda i: (i.dropped, i.position, i.id or 0))
        for position, item in enumerate(items, start=1):
            item.position = position


def _section_for(issue: Issue, review: Review) -> Section:
    return (
        Section.NEW
        if issue.window_start < review.published_at <= issue.cutoff
        else Section.TRENDING
    )


def edit_issue(
    session: Session, settings: Settings, issue_id: int, edits: Edits, now: datetime
) -> EditResult:
    issue = get_issue(session, issue_id)
    if issue.status != IssueStatus.DRAFT:
        raise InputError(f"issue {issue_id} is {issue.status.value}: only a draft can be edited")
    if edits.subject is not None:
        issue.subject = header_text("--subject", edits.subject)
    if edits.preheader is not None:
        issue.preheader = header_text("--preheader", edits.preheader)
    if edits.intro is not None:
        issue.intro = edits.intro.strip()
    items = {i.review_id: i for i in issue.items}
    for url in edits.pins:
        review = _review(session, url, "--pin")
        item = items.get(review.id)
        if item is None:
            item = IssueItem(review_id=review.id, section=_section_for(issue, review))
            item.position = 1_000_000  # after everything; renumbered below
            issue.items.append(item)
            items[review.id] = item
        item.pinned, item.dropped = True, False
    for url in edits.drops:
        item = items.get(_review(session, url, "--drop").id)
        if item is None:
            raise InputError(f"--drop {url}: not in issue {issue_id}")
        item.pinned, item.dropped = False, True
    _renumber(issue)
    for url, position in edits.moves:
        item = items.get(_review(session, url, "--move").id)
        if item is None or item.dropped:
            raise InputError(f"--move {url}: not in issue {issue_id} (pin it first)")
        live = sorted(
            (i for i in issue.items if i.section == item.section and not i.dropped),
            key=lambda i: i.position,
        )
        order = place([i.review_id for i in live], item.review_id, position)
        for number, review_id in enumerate(order, start=1):
            items[review_id].position = number
        item.pinned = True  # a placed review is the editor's choice: never trimmed
    issue.version += 1
    issue.updated_at = now
    session.execute(delete(IssueVariant).where(IssueVariant.issue_id == issue.id))
    trimmed = trim_to_budget(session, settings, issue)
    live = [i for i in issue.items if not i.dropped]
    return EditResult(
        issue.id,
        issue.version,
        sum(i.section == Section.NEW for i in live),
        sum(i.section == Section.TRENDING for i in live),
        trimmed,
    )


def trim_to_budget(session: Session, settings: Settings, issue: Issue) -> Trimmed:
    """Drop unpinned cards (trending first) until the fullest variant fits the budget."""
    session.flush()
    content = load_content(session, issue.id, settings.timezone)
    pinned = {i.review_id for i in issue.items if i.pinned and not i.dropped}
    fitted = fit(content, Branding.from_settings(settings), pinned)
    items = {i.review_id: i for i in issue.items}
    for card in fitted.dropped:
        items[card.review_id].dropped = True
    _renumber(issue)
    session.flush()
    return Trimmed(
        tuple(card.url for card in fitted.dropped), fitted.size > HTML_BUDGET, fitted.size
    )
