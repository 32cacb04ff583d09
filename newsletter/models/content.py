"""Reviews and what is known of them: metrics for trending, what each source said, fetch state."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.models.base import (
    URL_LENGTH,
    Base,
    utcnow,
)


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
