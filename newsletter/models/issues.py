"""Issues: the weekly run that made them, their items, and their composed variants."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from newsletter.models.base import (
    EMAIL_LENGTH,
    Base,
    IssueStatus,
    Section,
    enum_type,
    utcnow,
)

if TYPE_CHECKING:
    from newsletter.models.content import Review


class WeeklyRun(Base):
    """One row per week the weekly job ran for: the unique key is what makes two beat
    processes, a restarted beat or a manual run never build or send one week twice.

    Unfinished, it is running while ``heartbeat_at`` keeps moving, and dead once it falls
    behind (its process was killed); finished, it succeeded or ``failed`` (``jobs.weekly``)."""

    __tablename__ = "weekly_runs"

    week_key: Mapped[str] = mapped_column(String(8), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)  # of the latest attempt
    finished_at: Mapped[datetime | None]
    issue_id: Mapped[int | None] = mapped_column(ForeignKey("issues.id", ondelete="SET NULL"))
    outcome: Mapped[str | None] = mapped_column(Text)  # what happened, for the operator
    heartbeat_at: Mapped[datetime | None]  # the running attempt's last sign of life
    failed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    attempts: Mapped[int] = mapped_column(Integer, default=1, server_default="1")


class Issue(Base):
    """One weekly digest. ``week_key`` (ISO week, e.g. 2026-W48) makes a week's run unique."""

    __tablename__ = "issues"

    id: Mapped[int] = mapped_column(primary_key=True)
    # One live issue per week (a partial unique index, below): a cancelled one may be rebuilt
    # as a new draft for the same week (``issue build --again``).
    week_key: Mapped[str] = mapped_column(String(8))
    status: Mapped[IssueStatus] = mapped_column(
        enum_type(IssueStatus, "issue_status"), default=IssueStatus.DRAFT
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
    # The review window (``jobs.weekly``): the weekly slot this issue is meant for, when the
    # editors were mailed about it, and the latest editor's word on it (approve or hold).
    planned_at: Mapped[datetime | None]
    review_mailed_at: Mapped[datetime | None]
    approved_at: Mapped[datetime | None]
    approved_by: Mapped[str | None] = mapped_column(String(EMAIL_LENGTH))
    held_at: Mapped[datetime | None]
    held_by: Mapped[str | None] = mapped_column(String(EMAIL_LENGTH))

    items: Mapped[list[IssueItem]] = relationship(
        back_populates="issue", order_by="(IssueItem.section, IssueItem.position)"
    )

    __table_args__ = (
        Index("ix_issues_status_send_at", "status", "send_at"),
        Index(
            "uq_issues_live_week_key",
            "week_key",
            unique=True,
            sqlite_where=text("status <> 'cancelled'"),
            postgresql_where=text("status <> 'cancelled'"),
        ),
    )


class IssueItem(Base):
    __tablename__ = "issue_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"))
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"))
    section: Mapped[Section] = mapped_column(enum_type(Section, "issue_section"))
    position: Mapped[int] = mapped_column(Integer)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    dropped: Mapped[bool] = mapped_column(Boolean, default=False)
    # Dropped by the size guard (not by an editor): the desk lists these apart.
    trimmed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
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
