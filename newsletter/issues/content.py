"""An issue as plain data: the stored issue and its live items, ready for composition."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from newsletter.compose.content import IssueContent, ReviewCard
from newsletter.errors import NotFound
from newsletter.models import Issue, Section


def get_issue(session: Session, issue_id: int, *, lock: bool = False) -> Issue:
    """The issue, or :class:`NotFound`. ``lock``: hold its row until the transaction ends
    (``FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serializes writers)."""
    issue = session.get(Issue, issue_id, with_for_update=lock or None, populate_existing=lock)
    if issue is None:
        raise NotFound(f"issue {issue_id}: no such issue")
    return issue


def load_content(session: Session, issue_id: int, tz: ZoneInfo) -> IssueContent:
    """An issue and its live items as plain data for composition."""
    issue = get_issue(session, issue_id)
    cards: dict[Section, list[ReviewCard]] = {Section.NEW: [], Section.TRENDING: []}
    for item in sorted(issue.items, key=lambda i: (i.section, i.position)):
        if not item.dropped:
            cards[item.section].append(ReviewCard.of(item.review))
    return IssueContent(
        issue.id,
        issue.week_key,
        issue.subject,
        issue.preheader,
        issue.intro,
        issue.cutoff.astimezone(tz).date(),
        cards[Section.NEW],
        cards[Section.TRENDING],
    )
