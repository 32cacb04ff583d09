"""Editors' changes to a draft.

``edit_issue`` sets the subject, preheader and intro, pins reviews in (by URL), drops them and
moves them to a position in their section; pins and moves are the editor's word, so the size
guard never drops them. Only a draft can be edited: once sending starts, recipients may
already hold the issue. Every edit re-composes the draft (its stored variants are discarded
and its version goes up) and then re-checks the size budget (:mod:`newsletter.issues.budget`).
Errors name the field they are about: ``subject``, ``preheader``, ``pin``, ``drop``, ``move``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from newsletter.config import Settings
from newsletter.errors import FieldError
from newsletter.ingest.urls import canonical_url, url_key
from newsletter.issues.budget import Trimmed, renumber, trim_to_budget
from newsletter.issues.content import get_issue
from newsletter.issues.status import ensure_editable
from newsletter.models import Issue, IssueItem, IssueVariant, Review, Section

HEADER_LIMIT = 200
INTRO_LIMIT = 5000


@dataclass(frozen=True)
class Edits:
    subject: str | None = None  # "" goes back to the automatic subject
    preheader: str | None = None
    intro: str | None = None
    pins: tuple[str, ...] = ()
    drops: tuple[str, ...] = ()
    moves: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class EditResult:
    issue_id: int
    version: int
    new: int
    trending: int
    trimmed: Trimmed


def header_text(field: str, value: str) -> str | None:
    """A subject or preheader: one line of printable text (a CR or LF in a header value
    would start a header of its own, RFC 5322 2.2). ``""`` means "automatic" (``None``)."""
    if "\r" in value or "\n" in value:
        raise FieldError(field, "a line break is not allowed in a mail header")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise FieldError(field, "control characters are not allowed")
    text = " ".join(value.split())
    if len(text) > HEADER_LIMIT:
        raise FieldError(field, f"{len(text)} characters, at most {HEADER_LIMIT}")
    return text or None


def intro_text(value: str) -> str:
    """The editor's note: paragraphs of text. Control characters other than line breaks and
    tabs are refused (a NUL cannot even be stored in PostgreSQL text)."""
    if any((ord(ch) < 32 and ch not in "\n\r\t") or ord(ch) == 127 for ch in value):
        raise FieldError("intro", "control characters are not allowed")
    if len(value) > INTRO_LIMIT:
        raise FieldError("intro", f"{len(value)} characters, at most {INTRO_LIMIT}")
    return value.strip()


def place(order: list[int], review_id: int, position: int) -> list[int]:
    """``order`` with ``review_id`` moved to 1-based ``position`` (clamped to the end)."""
    rest = [r for r in order if r != review_id]
    index = min(position, len(rest) + 1) - 1
    return [*rest[:index], review_id, *rest[index:]]


def _review(session: Session, url: str, field: str) -> Review:
    canonical = canonical_url(url)
    key = url_key(url)
    if not canonical or not key:
        raise FieldError(field, "not an http(s) URL", shown=repr(url))
    found = session.scalars(
        select(Review).where(or_(Review.url == canonical, Review.url_key == key)).limit(1)
    ).first()
    if found is None:
        reason = "no stored review at that URL (ingest it first)"
        raise FieldError(field, reason, shown=url, code="unknown")
    return found


def _section_for(issue: Issue, review: Review) -> Section:
    return (
        Section.NEW
        if issue.window_start < review.published_at <= issue.cutoff
        else Section.TRENDING
    )


def edit_issue(
    session: Session, settings: Settings, issue_id: int, edits: Edits, now: datetime
) -> EditResult:
    # Locked (PostgreSQL; SQLite writers take turns anyway): a send starting meanwhile waits
    # for this edit, instead of the edit landing on an issue that is already going out.
    issue = get_issue(session, issue_id, lock=True)
    ensure_editable(issue_id, issue.status)
    if edits.subject is not None:
        issue.subject = header_text("subject", edits.subject)
    if edits.preheader is not None:
        issue.preheader = header_text("preheader", edits.preheader)
    if edits.intro is not None:
        issue.intro = intro_text(edits.intro)
    items = {i.review_id: i for i in issue.items}
    for url in edits.pins:
        review = _review(session, url, "pin")
        item = items.get(review.id)
        if item is None:
            item = IssueItem(review_id=review.id, section=_section_for(issue, review))
            item.position = 1_000_000  # after everything; renumbered below
            issue.items.append(item)
            items[review.id] = item
        item.pinned, item.dropped, item.trimmed = True, False, False
    for url in edits.drops:
        item = items.get(_review(session, url, "drop").id)
        if item is None:
            raise FieldError("drop", f"not in issue {issue_id}", shown=url)
        item.pinned, item.dropped, item.trimmed = False, True, False
    renumber(issue)
    for url, position in edits.moves:
        if position < 1:
            raise FieldError("position", "1 is the first place of a section", shown=str(position))
        item = items.get(_review(session, url, "move").id)
        if item is None or item.dropped:
            raise FieldError("move", f"not in issue {issue_id} (pin it first)", shown=url)
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
