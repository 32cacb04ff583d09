"""Building a week's draft: gather the selection's inputs, run it, store the issue.

``build_issue`` is idempotent per ISO week: the week key is unique, so asking twice (or from two
processes) yields the same issue. Selection itself is pure (``newsletter.issues.selection``);
this module only gathers its inputs and stores its output, then fits it to the size budget.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from newsletter.compose.content import default_intro
from newsletter.config import Settings
from newsletter.errors import FieldError, WorkError
from newsletter.issues.budget import trim_to_budget
from newsletter.issues.selection import (
    RECENT_TRENDING_ISSUES,
    TREND_WINDOW_DAYS,
    Candidate,
    DayMetric,
    Limits,
    Selection,
    select_issue,
)
from newsletter.issues.weeks import resolve_cutoff
from newsletter.models import Issue, IssueItem, IssueStatus, Review, ReviewMetric, Section


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


def _latest(session: Session, key: str) -> Issue | None:
    """The week's live issue, else its latest cancelled one."""
    return session.scalars(
        select(Issue)
        .where(Issue.week_key == key)
        .order_by((Issue.status == IssueStatus.CANCELLED).asc(), Issue.id.desc())
        .limit(1)
    ).first()


def build_issue(
    session: Session,
    settings: Settings,
    *,
    now: datetime,
    week: str | None = None,
    again: bool = False,
) -> BuildResult:
    """Build the draft of a week (or return the existing issue of that week).

    A week has at most one live issue; a cancelled one is returned as it is, unless ``again``:
    then a new draft is built for the week (a cancel, a fix, a rebuild). ``again`` with a live
    issue is refused (:class:`FieldError` ``week``). Raises :class:`WorkError` when there is
    nothing at all to send that week.
    """
    key, cutoff = resolve_cutoff(now, week, settings.timezone)
    existing = _latest(session, key)
    if existing is not None and again and existing.status is not IssueStatus.CANCELLED:
        raise FieldError(
            "week",
            f"issue {existing.id} of that week is {existing.status.value}; only a cancelled "
            "week is built again",
            shown=key,
            code="live",
        )
    if existing is not None and not again:
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
        existing = _latest(session, key)
        if existing is None or existing.status is IssueStatus.CANCELLED:
            raise
        return _result(existing, created=False)
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
