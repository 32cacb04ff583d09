"""The data model (SQLAlchemy 2.0 typed declarative), shared by SQLite and PostgreSQL.

Times are stored in UTC through :class:`UTCDateTime` (SQLite has no zone-aware type, so the
value is stored naive-UTC there and made aware again on the way out). Enumerations are stored as
short strings with CHECK constraints, which both databases enforce. The schema itself is created
by the Alembic migrations in ``newsletter/migrations``; this module must stay in step with them
(``tests/test_db.py`` compares the two).
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Dialect,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

URL_LENGTH = 2048
EMAIL_LENGTH = 320  # RFC 3696 errata: 64 + 1 + 255


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given where UTC is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [m.value for m in members],
    )


class SubscriberStatus(enum.StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


class IssueStatus(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    SENT = "sent"
    CANCELLED = "cancelled"


class Section(enum.StrEnum):
    NEW = "new"
    TRENDING = "trending"


class DeliveryState(enum.StrEnum):
    QUEUED = "queued"  # waiting for a worker (or for next_at after a temporary failure)
    SENDING = "sending"  # claimed by a worker under a lease
    SENT = "sent"  # the transport accepted it (2xx)
    FAILED = "failed"  # permanent failure (5xx) or attempts exhausted
    UNKNOWN = "unknown"  # connection lost after DATA's final dot: maybe delivered
    SKIPPED = "skipped"  # no longer eligible at send time (unsubscribed, suppressed)
    CANCELLED = "cancelled"  # the issue was cancelled before this one went out


class SuppressionReason(enum.StrEnum):
    UNSUBSCRIBED = "unsubscribed"
    HARD_BOUNCE = "hard_bounce"
    COMPLAINT = "complaint"
    MANUAL = "manual"
    FORGOTTEN = "forgotten"


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), date: Date()}


class Review(Base):
    """One published post, upserted by canonical URL."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(URL_LENGTH), unique=True)
    # The URL as analytics sees it (see ingest.urls.url_key): joins page views to reviews.
    url_key: Mapped[str] = mapped_column(String(URL_LENGTH), index=True)
    title: Mapped[str] = mapped_column(String(300))
    category: Mapped[str] = mapped_column(String(32), index=True)
    author: Mapped[str | None] = mapped_column(String(200))
    published_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime | None]
    score: Mapped[float | None] = mapped_column(Float)
    score_max: Mapped[float | None] = mapped_column(Float)
    score_norm: Mapped[float | None] = mapped_column(Float)  # 0-10, for ordering and colour
    tldr: Mapped[str | None] = mapped_column(Text)
    excerpt: Mapped[str | None] = mapped_column(Text)
    image_url: Mapped[str | None] = mapped_column(String(URL_LENGTH))
    is_review: Mapped[bool] = mapped_column(Boolean, default=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReviewMetric(Base):
    """Page views and digest clicks of one URL on one day (the input of trending)."""

    __tablename__ = "review_metrics"

    url_key: Mapped[str] = mapped_column(String(URL_LENGTH), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    views: Mapped[int] = mapped_column(Integer, default=0)
    clicks: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_review_metrics_day", "day"),)


class ReviewSource(Base):
    """What one source last said about one review (a digest of its record).

    Several sources describe the same post (the feed, the API, the page) with different
    excerpts and gaps. A review is rewritten only when one of its sources *changes* what it
    says, so re-ingesting every source is a no-op instead of a tug of war between them.
    """

    __tablename__ = "review_sources"

    review_id: Mapped[int] = mapped_column(
        ForeignKey("reviews.id", ondelete="CASCADE"), primary_key=True
    )
    source_key: Mapped[str] = mapped_column(String(40), primary_key=True)  # sha1 of the source
    content_hash: Mapped[str] = mapped_column(String(64))


class WeeklyRun(Base):
    """One row per week the weekly job ran for: the unique key is what makes two beat
    processes, a restarted beat or a manual run never build or send one week twice."""

    __tablename__ = "weekly_runs"

    week_key: Mapped[str] = mapped_column(String(8), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    issue_id: Mapped[int | None] = mapped_column(ForeignKey("issues.id", ondelete="SET NULL"))
    outcome: Mapped[str | None] = mapped_column(Text)  # what happened, for the operator


class FetchState(Base):
    """What the last successful fetch of one source URL told us, for conditional GET.

    Written in the same transaction as the records of that fetch: a failed ingest leaves the
    validators of the previous good fetch, so the next run fetches the source in full again.
    """

    __tablename__ = "fetch_state"

    url: Mapped[str] = mapped_column(String(URL_LENGTH), primary_key=True)
    etag: Mapped[str | None] = mapped_column(String(500))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    records: Mapped[int] = mapped_column(Integer, default=0)  # items in the stored body
    pages: Mapped[int] = mapped_column(Integer, default=1)  # WordPress X-WP-TotalPages
    format: Mapped[str | None] = mapped_column(String(16))  # what the body turned out to be
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class Subscriber(Base):
    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(EMAIL_LENGTH))
    # email lower-cased: uniqueness is case-insensitive on every backend.
    email_key: Mapped[str] = mapped_column(String(EMAIL_LENGTH), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[SubscriberStatus] = mapped_column(
        _enum(SubscriberStatus, "subscriber_status"), default=SubscriberStatus.PENDING
    )
    # Bit mask over sections.SECTIONS; 0 means every section.
    category_mask: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    consent_at: Mapped[datetime | None]
    consent_source: Mapped[str | None] = mapped_column(String(64))
    confirmed_at: Mapped[datetime | None]
    unsubscribed_at: Mapped[datetime | None]
    # When the latest confirmation was asked for: throttles re-sends, and a confirm link is
    # bound to it, so a newer request voids the older links.
    confirm_sent_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_subscribers_status_category_mask", "status", "category_mask"),)


class Issue(Base):
    """One weekly digest. ``week_key`` (ISO week, e.g. 2026-W48) makes a week's run unique."""

    __tablename__ = "issues"

    id: Mapped[int] = mapped_column(primary_key=True)
    week_key: Mapped[str] = mapped_column(String(8), unique=True)
    status: Mapped[IssueStatus] = mapped_column(
        _enum(IssueStatus, "issue_status"), default=IssueStatus.DRAFT
    )
    # NULL subject or preheader: written per variant from its own cards (an Anime-only
    # subscriber's subject leads with an Anime review). An editor's text applies to all.
    subject: Mapped[str | None] = mapped_column(String(300))
    preheader: Mapped[str | None] = mapped_column(String(300))
    intro: Mapped[str] = mapped_column(Text, default="")
    window_start: Mapped[datetime]
    cutoff: Mapped[datetime]
    send_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    status_reason: Mapped[str | None] = mapped_column(Text)
    # Bumped by every edit of a draft; composed variants of an older version are stale.
    version: Mapped[int] = mapped_column(Integer, default=1)

    items: Mapped[list[IssueItem]] = relationship(
        back_populates="issue", order_by="(IssueItem.section, IssueItem.position)"
    )

    __table_args__ = (Index("ix_issues_status_send_at", "status", "send_at"),)


class IssueItem(Base):
    __tablename__ = "issue_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"))
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"))
    section: Mapped[Section] = mapped_column(_enum(Section, "issue_section"))
    position: Mapped[int] = mapped_column(Integer)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    dropped: Mapped[bool] = mapped_column(Boolean, default=False)
    trend_score: Mapped[float | None] = mapped_column(Float)

    issue: Mapped[Issue] = relationship(back_populates="items")
    review: Mapped[Review] = relationship()

    __table_args__ = (
        UniqueConstraint("issue_id", "review_id"),
        Index("ix_issue_items_review_id_section", "review_id", "section"),
    )


class IssueVariant(Base):
    """An issue rendered and CSS-inlined once for one category set (``mask``)."""

    __tablename__ = "issue_variants"

    issue_id: Mapped[int] = mapped_column(
        ForeignKey("issues.id", ondelete="CASCADE"), primary_key=True
    )
    mask: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    subject: Mapped[str] = mapped_column(String(300))
    html: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    nonce: Mapped[str] = mapped_column(String(16))  # of the placeholders in html and text
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Delivery(Base):
    """One recipient of one issue: the unit of exactly-once delivery."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    variant_mask: Mapped[int] = mapped_column(Integer)
    state: Mapped[DeliveryState] = mapped_column(
        _enum(DeliveryState, "delivery_state"), default=DeliveryState.QUEUED
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime | None]
    lease_until: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    last_error: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(255))
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("issue_id", "subscriber_id"),
        # Few indexes on purpose: each outcome rewrites an entry in every one of them (migration
        # 0004). ``id`` last lets a claim read fresh rows in order without a sort.
        Index("ix_deliveries_queue", "issue_id", "state", "next_at", "id"),
        # Only rows being sent: finding expired leases never walks the sent ones.
        Index(
            "ix_deliveries_lease",
            "issue_id",
            "lease_until",
            postgresql_where=text("state = 'sending'"),
            sqlite_where=text("state = 'sending'"),
        ),
        Index("ix_deliveries_subscriber_id", "subscriber_id"),
    )


class Event(Base):
    """Something a recipient or a mail system did: click, open, unsubscribe, bounce, complaint."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    issue_id: Mapped[int | None] = mapped_column(ForeignKey("issues.id", ondelete="SET NULL"))
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL")
    )
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL")
    )
    review_id: Mapped[int | None] = mapped_column(ForeignKey("reviews.id", ondelete="SET NULL"))
    url: Mapped[str | None] = mapped_column(String(URL_LENGTH))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_events_issue_id_kind", "issue_id", "kind"),
        Index("ix_events_review_id_created_at", "review_id", "created_at"),
    )


class Suppression(Base):
    """An address we must never mail. After a "forget", only the hash remains."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_key: Mapped[str | None] = mapped_column(String(EMAIL_LENGTH), unique=True)
    email_hash: Mapped[str] = mapped_column(String(64), unique=True)
    reason: Mapped[SuppressionReason] = mapped_column(
        _enum(SuppressionReason, "suppression_reason")
    )
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BounceReport(Base):
    """A bounce or complaint message already processed, keyed by the SHA-256 of its bytes:
    reading the same mailbox twice changes nothing (``newsletter bounces process``)."""

    __tablename__ = "bounce_reports"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16))  # hard, soft, delayed, complaint...
    issue_id: Mapped[int | None] = mapped_column(ForeignKey("issues.id", ondelete="SET NULL"))
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL")
    )
    reason: Mapped[str | None] = mapped_column(Text)  # why it was not applied, if it was not
    processed_at: Mapped[datetime] = mapped_column(default=utcnow)


class IssueLink(Base):
    """A link of an issue that goes through the click redirect (``/c/<link>/<recipient>``).

    The URL lives here, not in the token: the redirect can only ever lead to a URL the issue
    itself contains (no open redirect), and the token stays short.
    """

    __tablename__ = "issue_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(URL_LENGTH))
    # Set when the URL is a stored review's: its first click per recipient counts for trending.
    review_id: Mapped[int | None] = mapped_column(ForeignKey("reviews.id", ondelete="SET NULL"))

    __table_args__ = (UniqueConstraint("issue_id", "url"),)


class LinkClick(Base):
    """The first click of one recipient (delivery) on one link; later clicks add nothing."""

    __tablename__ = "link_clicks"

    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), primary_key=True
    )
    link_id: Mapped[int] = mapped_column(
        ForeignKey("issue_links.id", ondelete="CASCADE"), primary_key=True
    )
    clicked_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_link_clicks_link_id", "link_id"),)


class DeliveryOpen(Base):
    """The first time a recipient's mail client loaded the open pixel (off by default)."""

    __tablename__ = "delivery_opens"

    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), primary_key=True
    )
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
