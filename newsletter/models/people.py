"""Subscribers and the suppression list."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.models.base import (
    EMAIL_LENGTH,
    Base,
    SubscriberStatus,
    SuppressionReason,
    enum_type,
    utcnow,
)


class Subscriber(Base):
    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(EMAIL_LENGTH))
    # email lower-cased: uniqueness is case-insensitive on every backend.
    email_key: Mapped[str] = mapped_column(String(EMAIL_LENGTH), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[SubscriberStatus] = mapped_column(
        enum_type(SubscriberStatus, "subscriber_status"), default=SubscriberStatus.PENDING
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


class Suppression(Base):
    """An address we must never mail. After a "forget", only the hash remains."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_key: Mapped[str | None] = mapped_column(String(EMAIL_LENGTH), unique=True)
    email_hash: Mapped[str] = mapped_column(String(64), unique=True)
    reason: Mapped[SuppressionReason] = mapped_column(
        enum_type(SuppressionReason, "suppression_reason")
    )
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
