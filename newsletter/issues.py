"""Issues in the database: week keys, building a week's draft, and loading it for composition.

``build_issue`` is idempotent per ISO week: the week key is unique, so asking twice (or from two
processes) yields the same issue. Selection itself is pure (``newsletter.selection``); this
module only gathers its inputs and stores its output.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from newsletter.compose.content import IssueContent, ReviewCard
from newsletter.config import Settings
from newsletter.errors import InputError, NotFound, WorkError
from newsletter.models import Issue, IssueItem, IssueStatus, Review, ReviewMetric, Section
from newsletter.selection import (
    RECENT_TRENDING_ISSUES,
    TREND_WINDOW_DAYS,
    Candidate,
    DayMetric,
    Limits,
    Selection,
    select_issue,
)

_WEEK = re.compile(r"(\d{4})-W(\d{2})")


def week_key(moment: datetime, tz: ZoneInfo) -> str:
    """The ISO week of ``moment`` in the site's zone, e.g. ``2026-W48``."""
    iso = moment.astimezone(tz).isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def week_end(key: str, tz: ZoneInfo) -> datetime:
    """The last instant of an ISO week (Sunday 23:59:59 in the site's zone), in UTC."""
    match = _WEEK.fullmatch(key)
    if not match:
        raise InputError(f"--week {key!r}: expected YYYY-Www, e.g. 2026-W48")
    try:
        monday = date.fromisocalendar(int(match.group(1)), int(match.group(2)), 1)
    except ValueError as exc:
        raise InputError(f"--week {key!r}: {exc}") from exc
    local = datetime.combine(monday + timedelta(days=6), datetime.max.time(), tzinfo=tz)
    return local.replace(microsecond=0).astimezone(UTC)


def resolve_cutoff(now: datetime, week: str | None, tz: ZoneInfo) -> tuple[str, datetime]:
    """(week key, cutoff): ``now``'s week, or the named week cut at its end or at ``now``."""
    if week is None:
        return week_key(now, tz), now
    return week, min(week_end(week, tz), now)


@dataclass(frozen=True)
class BuildResult:
    issue_id: int
    week_key: str
    created: bool
    status: IssueStatus
    new: int
    trending: int
    trimmed: tuple[str, ...] = ()  # URLs dropped to keep the email under the size budget
    size: int = 0  # bytes of the fullest variant's HTML (0: not measured this time)


def _previous_cutoff(session: Session, cutoff: datetime) -> datetime | None:
    return session.scalar(
        select(Issue.cutoff)
        .where(Issue.cutoff < cutoff, Issue.status != IssueStatus.CANCELLED)
        .order_by(Issue.cutoff.desc())
        .limit(1)
    )


def gather_selection(
    session: Session, cutoff: datetime, window_start: datetime, limits: Limits
) -> Selection:
    """Load selection inputs from the database and run the pure selection over them."""
    first_day = cutoff.date() - timedelta(days=TREND_WINDOW_DAYS)
    metrics: dict[str, list[DayMetric]] = defaultdict(list)
    for key, day, views, clicks in session.execute(
        select(
            ReviewMetric.url_key, ReviewMetric.day, ReviewMetric.views, ReviewMetric.clicks
        ).where(ReviewMetric.day >= first_day, ReviewMetric.day <= cutoff.date())
    ):
        metrics[key].append(DayMetric(day, views, clicks))
    rows = session.scalars(
        select(Review).where(
            Review.is_review.is_(True),
            Review.published_at <= cutoff,
            or_(Review.published_at > window_start, Review.url_key.in_(list(metrics))),
        )
    )
    candidates = [
        Candidate(r.id, r.url, r.url_key, r.category, r.published_at, r.score_norm, r.is_review)
        for r in rows
    ]
    live = select(Issue.id).where(Issue.status != IssueStatus.CANCELLED, Issue.cutoff < cutoff)
    featured = set(
        session.scalars(
            select(IssueItem.review_id).where(
                IssueItem.issue_id.in_(live), IssueItem.dropped.is_(False)
            )
        )
    )
    recent = live.order_by(Issue.cutoff.desc()).limit(RECENT_TRENDING_ISSUES)
    recent_trending = set(
        session.scalars(
            select(IssueItem.review_id).where(
                IssueItem.issue_id.in_(recent.scalar_subquery()),
                IssueItem.section == Section.TRENDING,
                IssueItem.dropped.is_(False),
            )
        )
    )
    return select_issue(
        candidates,
        metrics,
        window_start=window_start,
        cutoff=cutoff,
        featured=featured,
        recent_trending=recent_trending,
        limits=limits,
    )


def build_issue(
    session: Session, settings: Settings, *, now: datetime, week: str | None = None
) -> BuildResult:
    """Build the draft of a week (or return the existing issue of that week).

    Raises :class:`WorkError` when there is nothing at all to send that week.
    """
    key, cutoff = resolve_cutoff(now, week, settings.timezone)
    existing = session.scalar(select(Issue).where(Issue.week_key == key))
    if existing is not None:
        return _result(existing, created=False)
    window_start = _previous_cutoff(session, cutoff) or cutoff - timedelta(days=7)
    limits = Limits(settings.new_limit, settings.trending_limit, settings.trending_half_life_days)
    selection = gather_selection(session, cutoff, window_start, limits)
    if selection.empty:
        raise WorkError(f"week {key}: nothing to send (no new or trending reviews); no issue built")
    issue = Issue(
        week_key=key,
        intro=default_intro(len(selection.new), len(selection.trending)),
        window_start=window_start,
        cutoff=cutoff,
        created_at=now,
        updated_at=now,
    )
    for section, picks in ((Section.NEW, selection.new), (Section.TRENDING, selection.trending)):
        for position, pick in enumerate(picks, start=1):
            issue.items.append(
                IssueItem(
                    review_id=pick.review_id,
                    section=section,
                    position=position,
                    trend_score=pick.trend_score,
                )
            )
    try:
        with session.begin_nested():
            session.add(issue)
    except IntegrityError:  # another process built this week first: use theirs
        existing = session.scalar(select(Issue).where(Issue.week_key == key))
        if existing is None:
            raise
        return _result(existing, created=False)
    # Imported here: editing builds on this module (load_content, get_issue).
    from newsletter.editing import trim_to_budget

    trimmed = trim_to_budget(session, settings, issue)
    return _result(issue, created=True, trimmed=trimmed.dropped, size=trimmed.size)


def _result(
    issue: Issue, *, created: bool, trimmed: tuple[str, ...] = (), size: int = 0
) -> BuildResult:
    live = [i for i in issue.items if not i.dropped]
    return BuildResult(
        issue.id,
        issue.week_key,
        created,
        issue.status,
        sum(i.section == Section.NEW for i in live),
        sum(i.section == Section.TRENDING for i in live),
        trimmed,
        size,
    )


def default_intro(new: int, trending: int) -> str:
    if not new:
        return "A quiet week for new reviews, so here is what readers have been reading most."
    return (
        "Here is what we reviewed this week, each with its score and a TL;DR, "
        "plus what readers could not stop clicking on."
        if trending
        else "Here is what we reviewed this week, each with its score and a TL;DR."
    )


def get_issue(session: Session, issue_id: int) -> Issue:
    issue = session.get(Issue, issue_id)
    if issue is None:
        raise NotFound(f"issue {issue_id}: no such issue")
    return issue


def load_content(session: Session, issue_id: int, tz: ZoneInfo) -> IssueContent:
    """An issue and its live items as plain data for composition."""
    issue = get_issue(session, issue_id)
    cards: dict[Section, list[ReviewCard]] = {Section.NEW: [], Section.TRENDING: []}
    for item in sorted(issue.items, key=lambda i: (i.section, i.position)):
        if item.dropped:
            continue
        r = item.review
        cards[item.section].append(
            ReviewCard(
                r.id,
                r.url,
                r.title,
                r.category,
                r.author,
                r.published_at,
                r.score,
                r.score_max,
                r.score_norm,
                r.tldr,
                r.excerpt,
                r.image_url,
            )
        )
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
