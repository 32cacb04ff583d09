"""The size guard every draft passes after a build or an edit (the database side of
:mod:`newsletter.compose.budget`): unpinned cards are dropped, trending first, until the fullest
variant fits; dropped items stay in the issue marked ``dropped`` (and stay eligible for a later
issue), so the editor sees what went and can pin it back."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from newsletter.compose.budget import HTML_BUDGET, fit
from newsletter.compose.content import Branding
from newsletter.config import Settings
from newsletter.issues.content import load_content
from newsletter.models import Issue, Section


@dataclass(frozen=True)
class Trimmed:
    """What the size guard did: URLs dropped to fit, and whether it still does not fit."""

    dropped: tuple[str, ...] = ()
    over_budget: bool = False
    size: int = 0


def renumber(issue: Issue) -> None:
    """Live items 1..n in each section, dropped ones after them, order otherwise kept."""
    for section in (Section.NEW, Section.TRENDING):
        items = [i for i in issue.items if i.section == section]
        items.sort(key=lambda i: (i.dropped, i.position, i.id or 0))
        for position, item in enumerate(items, start=1):
            item.position = position


def trim_to_budget(session: Session, settings: Settings, issue: Issue) -> Trimmed:
    """Drop unpinned cards (trending first) until the fullest variant fits the budget."""
    session.flush()
    content = load_content(session, issue.id, settings.timezone)
    pinned = {i.review_id for i in issue.items if i.pinned and not i.dropped}
    fitted = fit(content, Branding.from_settings(settings), pinned)
    items = {i.review_id: i for i in issue.items}
    for card in fitted.dropped:
        items[card.review_id].dropped = items[card.review_id].trimmed = True
    renumber(issue)
    session.flush()
    return Trimmed(
        tuple(card.url for card in fitted.dropped), fitted.size > HTML_BUDGET, fitted.size
    )
