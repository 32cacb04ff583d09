"""An issue's report: what became of its deliveries, and what readers did with it.

Everything is read from the rows the pipeline already keeps; nothing is stored for the report:

- deliveries by state (``deliveries``): recipients are every row fan-out made; *delivered* is
  ``sent`` (a message the server took and that did not bounce back hard: a hard bounce turns
  its row to ``failed``, :mod:`newsletter.feedback.bounces`);
- bounces and complaints (``events`` tagged with the issue): distinct subscribers per kind;
- unsubscribes, attributed by the rule in :func:`unsubscribed_after`;
- clicks (``link_clicks``): the redirect stores the *first* click of a reader on a link, so
  *unique* clicks are distinct readers and *total* clicks are (reader, link) pairs: a reader
  who clicked two links of one review counts twice, the same link twice counts once;
- opens (``delivery_opens``): the first load of the pixel per reader, only when tracked.

The send started when fan-out made the delivery rows (their earliest ``created_at``): the
hourly clicks count from there, :data:`HOURS` buckets of one hour.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from newsletter.issues.content import get_issue
from newsletter.models import (
    Delivery,
    DeliveryOpen,
    DeliveryState,
    Event,
    IssueItem,
    IssueLink,
    IssueVariant,
    LinkClick,
    Review,
    Section,
)

HOURS = 72  # the clicks-over-time window after the send started
_SECTION_ORDER = {Section.NEW.value: 0, Section.TRENDING.value: 1}


@dataclass(frozen=True)
class ReviewFigures:
    """One review of the issue (dropped ones are not in it) and its clicks."""

    review_id: int
    title: str
    url: str
    section: str  # "new" | "trending"
    position: int  # 1-based, within its section
    unique_clicks: int  # distinct readers who clicked any of its links
    clicks: int  # first clicks per (reader, link)
    click_rate: float  # unique_clicks / delivered (0.0 when nothing was delivered)


@dataclass(frozen=True)
class IssueReport:
    """An issue's figures as plain data (UTC datetimes)."""

    issue_id: int
    week_key: str
    subject: str
    status: str
    started_at: datetime | None  # fan-out: None for an issue never sent
    finished_at: datetime | None  # the issue's ``sent_at``: when its last row settled
    recipients: int
    delivered: int
    failed: int
    unknown: int  # connection lost after the final dot: maybe delivered
    pending: int  # queued or being sent
    skipped: int  # no longer eligible at send time
    cancelled: int
    bounced_hard: int
    bounced_soft: int
    complained: int
    unsubscribed: int
    opens: int | None  # readers who loaded the pixel; None when opens are not tracked
    clickers: int  # distinct readers who clicked any tracked link of the issue
    clicks: int  # first clicks per (reader, link), every tracked link
    reviews: tuple[ReviewFigures, ...]
    clicks_by_hour: tuple[int, ...]  # HOURS values: clicks in hour h after started_at

    @property
    def sent(self) -> bool:
        return self.started_at is not None


def issue_report(session: Session, issue_id: int, *, track_opens: bool) -> IssueReport:
    """The report of ``issue_id`` (:class:`~newsletter.errors.NotFound` for an unknown one).
    An issue never sent has zero figures and no ``started_at``."""
    issue = get_issue(session, issue_id)
    counts = delivery_counts(session, issue_id)
    delivered = counts.get(DeliveryState.SENT.value, 0)
    kinds = event_counts(session, issue_id)
    started = session.scalar(
        select(func.min(Delivery.created_at)).where(Delivery.issue_id == issue_id)
    )
    clickers, clicks = click_totals(session, issue_id)
    opens = open_count(session, issue_id) if track_opens else None
    return IssueReport(
        issue_id=issue.id,
        week_key=issue.week_key,
        subject=subject_of(session, issue_id, issue.subject, issue.week_key),
        status=issue.status.value,
        started_at=started,
        finished_at=issue.sent_at,
        recipients=sum(counts.values()),
        delivered=delivered,
        failed=counts.get(DeliveryState.FAILED.value, 0),
        unknown=counts.get(DeliveryState.UNKNOWN.value, 0),
        pending=counts.get(DeliveryState.QUEUED.value, 0)
        + counts.get(DeliveryState.SENDING.value, 0),
        skipped=counts.get(DeliveryState.SKIPPED.value, 0),
        cancelled=counts.get(DeliveryState.CANCELLED.value, 0),
        bounced_hard=kinds.get("bounce_hard", 0),
        bounced_soft=kinds.get("bounce_soft", 0),
        complained=kinds.get("complaint", 0),
        unsubscribed=unsubscribed_after(session, issue_id),
        opens=opens,
        clickers=clickers,
        clicks=clicks,
        reviews=review_figures(session, issue_id, delivered),
        clicks_by_hour=clicks_by_hour(session, issue_id, started),
    )


def subject_of(session: Session, issue_id: int, edited: str | None, week_key: str) -> str:
    """The editor's subject, else the automatic one of the issue's all-sections variant (or
    its first), else a plain name for an issue never composed."""
    if edited:
        return edited
    automatic = session.scalar(
        select(IssueVariant.subject)
        .where(IssueVariant.issue_id == issue_id)
        .order_by(IssueVariant.mask)
        .limit(1)
    )
    return automatic or f"Issue for {week_key}"


def delivery_counts(session: Session, issue_id: int) -> dict[str, int]:
    rows = session.execute(
        select(Delivery.state, func.count())
        .where(Delivery.issue_id == issue_id)
        .group_by(Delivery.state)
    )
    return {state.value: count for state, count in rows}


def event_counts(session: Session, issue_id: int) -> dict[str, int]:
    """Distinct subscribers per event kind tagged with the issue: a reader whose mailbox
    bounced twice is one bounce."""
    rows = session.execute(
        select(Event.kind, func.count(func.distinct(Event.subscriber_id)))
        .where(
            Event.issue_id == issue_id,
            Event.kind.in_(("bounce_hard", "bounce_soft", "complaint")),
        )
        .group_by(Event.kind)
    )
    return {str(kind): int(count) for kind, count in rows}


def unsubscribed_after(session: Session, issue_id: int) -> int:
    """Readers who unsubscribed because of this issue, as far as can be known.

    An unsubscribe event tagged with the issue counts. An untagged one (the unsubscribe link
    and the List-Unsubscribe header carry no issue) is attributed to the latest issue the
    reader had been sent before unsubscribing: it counts here when this issue reached them
    (``sent``) before the event and no other issue reached them between the two. So each
    unsubscribe counts for at most one issue, and a reader who leaves a month later without
    any mail since is still this issue's."""
    mine = aliased(Delivery)
    later = aliased(Delivery)
    received = exists().where(
        mine.issue_id == issue_id,
        mine.subscriber_id == Event.subscriber_id,
        mine.state == DeliveryState.SENT,
        mine.sent_at <= Event.created_at,
        ~exists()
        .where(
            later.subscriber_id == Event.subscriber_id,
            later.issue_id != issue_id,
            later.sent_at > mine.sent_at,
            later.sent_at <= Event.created_at,
        )
        .correlate_except(later),  # ``events`` is the outermost query's, not a FROM of its own
    )
    return (
        session.scalar(
            select(func.count(func.distinct(Event.subscriber_id))).where(
                Event.kind == "unsubscribe",
                or_(Event.issue_id == issue_id, and_(Event.issue_id.is_(None), received)),
            )
        )
        or 0
    )


def click_totals(session: Session, issue_id: int) -> tuple[int, int]:
    """(distinct readers who clicked, clicks) over every tracked link of the issue."""
    row = session.execute(
        select(func.count(func.distinct(LinkClick.delivery_id)), func.count())
        .join(IssueLink, IssueLink.id == LinkClick.link_id)
        .where(IssueLink.issue_id == issue_id)
    ).one()
    return row[0] or 0, row[1] or 0


def open_count(session: Session, issue_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(DeliveryOpen)
            .join(Delivery, Delivery.id == DeliveryOpen.delivery_id)
            .where(Delivery.issue_id == issue_id)
        )
        or 0
    )


def review_figures(session: Session, issue_id: int, delivered: int) -> tuple[ReviewFigures, ...]:
    """Every review the issue holds (not dropped), in reading order, with its clicks: a
    review's links are the issue's tracked links that name it."""
    rows = session.execute(
        select(
            IssueItem.review_id,
            Review.title,
            Review.url,
            IssueItem.section,
            IssueItem.position,
            func.count(func.distinct(LinkClick.delivery_id)),
            func.count(LinkClick.link_id),
        )
        .join(Review, Review.id == IssueItem.review_id)
        .outerjoin(
            IssueLink,
            and_(IssueLink.issue_id == issue_id, IssueLink.review_id == IssueItem.review_id),
        )
        .outerjoin(LinkClick, LinkClick.link_id == IssueLink.id)
        .where(IssueItem.issue_id == issue_id, IssueItem.dropped.is_(False))
        .group_by(
            IssueItem.review_id, Review.title, Review.url, IssueItem.section, IssueItem.position
        )
    ).all()
    figures = [
        ReviewFigures(
            review_id=review_id,
            title=title,
            url=url,
            section=section.value,
            position=position,
            unique_clicks=unique,
            clicks=total,
            click_rate=unique / delivered if delivered else 0.0,
        )
        for review_id, title, url, section, position, unique, total in rows
    ]
    figures.sort(key=lambda f: (_SECTION_ORDER.get(f.section, 9), f.position))
    return tuple(figures)


def clicks_by_hour(session: Session, issue_id: int, started: datetime | None) -> tuple[int, ...]:
    """Clicks in each of the first :data:`HOURS` hours after ``started`` (all zero before a
    send). Bucketed here rather than in SQL: the two databases truncate times differently,
    and at most one row per (reader, link) comes back."""
    buckets = [0] * HOURS
    if started is None:
        return tuple(buckets)
    times = session.scalars(
        select(LinkClick.clicked_at)
        .join(IssueLink, IssueLink.id == LinkClick.link_id)
        .where(
            IssueLink.issue_id == issue_id,
            LinkClick.clicked_at >= started,
            LinkClick.clicked_at < started + timedelta(hours=HOURS),
        )
    )
    for at in times:
        buckets[int((at - started).total_seconds() // 3600)] += 1
    return tuple(buckets)
