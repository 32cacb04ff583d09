"""Issues as the desk and the control room list and show them (read-only, plain data).

:func:`issue_rows` is the issues list (newest first, with delivery and click counts from one
grouped query each, whatever the number of issues); :func:`issue_detail` is one issue with its
items in order, the size of its fullest variant against the clip budget, and what the size guard
dropped. Times are UTC; the faces show them in the publication's zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from newsletter.compose.budget import HTML_BUDGET, html_size
from newsletter.compose.content import Branding
from newsletter.config import Settings
from newsletter.issues.content import get_issue, load_content
from newsletter.models import (
    Delivery,
    DeliveryState,
    Issue,
    IssueCheck,
    IssueItem,
    IssueLink,
    IssueVariant,
    LinkClick,
)


@dataclass(frozen=True)
class IssueRow:
    id: int
    week_key: str
    status: str
    subject: str  # the editor's, else the automatic one (of the fullest variant)
    send_at: datetime | None
    planned_at: datetime | None  # the weekly slot it was built for (review window)
    sent_at: datetime | None
    recipients: int = 0
    sent: int = 0
    failed: int = 0
    clicks: int = 0  # first clicks of a recipient on a link
    approved_by: str | None = None
    held_by: str | None = None
    # errors the last pre-flight check found in this version of the draft (None: not checked
    # since it last changed); a scheduled issue with errors is held at its time
    check_errors: int | None = None


@dataclass(frozen=True)
class ItemRow:
    review_id: int
    section: str  # "new" | "trending"
    position: int
    url: str
    title: str
    category: str
    author: str | None
    score: float | None
    score_max: float | None
    tldr: str | None
    pinned: bool
    dropped: bool
    trimmed: bool  # dropped by the size guard, not by an editor


@dataclass(frozen=True)
class IssueDetail:
    row: IssueRow
    preheader: str | None  # None: automatic
    intro: str
    status_reason: str | None
    approved_at: datetime | None
    held_at: datetime | None
    version: int
    items: tuple[ItemRow, ...]
    size: int  # bytes of the fullest variant's HTML, links and greeting allowed for
    budget: int = HTML_BUDGET

    @property
    def over_budget(self) -> bool:
        return self.size > self.budget

    @property
    def trimmed(self) -> tuple[str, ...]:
        """URLs the size guard dropped (an editor may pin them back)."""
        return tuple(i.url for i in self.items if i.trimmed and i.dropped)

    @property
    def editable(self) -> bool:
        return self.row.status in ("draft", "scheduled")


def _counts(session: Session, ids: list[int]) -> dict[int, tuple[int, int, int, int]]:
    """issue id -> (recipients, sent, failed, clicks)."""
    out = dict.fromkeys(ids, (0, 0, 0, 0))
    if not ids:
        return out
    for issue_id, total, sent, failed in session.execute(
        select(
            Delivery.issue_id,
            func.count(),
            func.sum(case((Delivery.state == DeliveryState.SENT, 1), else_=0)),
            func.sum(case((Delivery.state == DeliveryState.FAILED, 1), else_=0)),
        )
        .where(Delivery.issue_id.in_(ids))
        .group_by(Delivery.issue_id)
    ):
        out[issue_id] = (total, int(sent or 0), int(failed or 0), 0)
    for issue_id, clicks in session.execute(
        select(IssueLink.issue_id, func.count())
        .join(LinkClick, LinkClick.link_id == IssueLink.id)
        .where(IssueLink.issue_id.in_(ids))
        .group_by(IssueLink.issue_id)
    ):
        total, sent, failed, _ = out[issue_id]
        out[issue_id] = (total, sent, failed, clicks)
    return out


def _subjects(session: Session, settings: Settings, issues: list[Issue]) -> dict[int, str]:
    """The subject each issue shows: the editor's, else the stored fullest variant's (mask 0),
    else written now from its cards (a draft not yet composed)."""
    out = {i.id: i.subject for i in issues if i.subject}
    missing = [i.id for i in issues if i.id not in out]
    if missing:
        for issue_id, subject in session.execute(
            select(IssueVariant.issue_id, IssueVariant.subject).where(
                IssueVariant.issue_id.in_(missing), IssueVariant.mask == 0
            )
        ):
            out[issue_id] = subject
    for issue in issues:
        if issue.id not in out:
            content = load_content(session, issue.id, settings.timezone)
            out[issue.id] = content.resolved(settings.site_name).subject or ""
    return out


def _checks(session: Session, issues: list[Issue]) -> dict[int, int]:
    """issue id -> errors of its last pre-flight check, when that checked its current version."""
    versions = {i.id: i.version for i in issues}
    if not versions:
        return {}
    rows = session.execute(
        select(IssueCheck.issue_id, IssueCheck.version, IssueCheck.errors).where(
            IssueCheck.issue_id.in_(list(versions))
        )
    )
    return {issue_id: errors for issue_id, version, errors in rows if versions[issue_id] == version}


def _row(
    issue: Issue, subject: str, counts: tuple[int, int, int, int], check: int | None = None
) -> IssueRow:
    return IssueRow(
        issue.id,
        issue.week_key,
        issue.status.value,
        subject,
        issue.send_at,
        issue.planned_at,
        issue.sent_at,
        *counts,
        approved_by=issue.approved_by,
        held_by=issue.held_by,
        check_errors=check,
    )


def issue_rows(session: Session, settings: Settings, *, limit: int = 200) -> list[IssueRow]:
    """The latest ``limit`` issues, newest first (by week, then by id: a rebuilt week's new
    draft before its cancelled issue)."""
    issues = list(
        session.scalars(select(Issue).order_by(Issue.week_key.desc(), Issue.id.desc()).limit(limit))
    )
    ids = [i.id for i in issues]
    counts, subjects = _counts(session, ids), _subjects(session, settings, issues)
    checks = _checks(session, issues)
    return [_row(i, subjects[i.id], counts[i.id], checks.get(i.id)) for i in issues]


def issue_detail(session: Session, settings: Settings, issue_id: int) -> IssueDetail:
    """One issue as the desk shows it; :class:`NotFound` for an unknown id."""
    issue = get_issue(session, issue_id)
    content = load_content(session, issue_id, settings.timezone)
    subject = content.resolved(settings.site_name).subject or ""
    items = tuple(
        ItemRow(
            i.review_id,
            i.section.value,
            i.position,
            i.review.url,
            i.review.title,
            i.review.category,
            i.review.author,
            i.review.score,
            i.review.score_max,
            i.review.tldr,
            i.pinned,
            i.dropped,
            i.trimmed,
        )
        for i in sorted(issue.items, key=_item_order)
    )
    return IssueDetail(
        _row(
            issue,
            subject,
            _counts(session, [issue_id])[issue_id],
            _checks(session, [issue]).get(issue_id),
        ),
        issue.preheader,
        issue.intro,
        issue.status_reason,
        issue.approved_at,
        issue.held_at,
        issue.version,
        items,
        html_size(content, Branding.from_settings(settings)),
    )


def _item_order(item: IssueItem) -> tuple[int, bool, int]:
    return (0 if item.section.value == "new" else 1, item.dropped, item.position)
