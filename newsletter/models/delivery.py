"""Deliveries, and everything that comes back of them: events, bounce reports, tracked links,
clicks and opens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.models.base import (
    URL_LENGTH,
    Base,
    DeliveryState,
    enum_type,
    utcnow,
)


class Delivery(Base):
    """One recipient of one issue: the unit of exactly-once delivery."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    variant_mask: Mapped[int] = mapped_column(Integer)
    state: Mapped[DeliveryState] = mapped_column(
        enum_type(DeliveryState, "delivery_state"), default=DeliveryState.QUEUED
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
        # Only rows with an error: the operator's latest errors without reading the send
        # (migration 0011); a sent row carries none, so a send's bulk adds no entry.
        Index(
            "ix_deliveries_errors",
            "issue_id",
            "id",
            postgresql_where=text("last_error IS NOT NULL"),
            sqlite_where=text("last_error IS NOT NULL"),
        ),
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
