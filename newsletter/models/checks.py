"""What the pre-flight check found (newsletter.preflight): the last report of each issue, and
the answers of the link and image URLs it tried, cached per issue."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.models.base import Base, utcnow


class IssueCheck(Base):
    """The last pre-flight report of an issue, for the version of the draft it checked."""

    __tablename__ = "issue_checks"

    issue_id: Mapped[int] = mapped_column(
        ForeignKey("issues.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer)  # Issue.version when checked
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)
    errors: Mapped[int] = mapped_column(Integer)
    warnings: Mapped[int] = mapped_column(Integer)
    findings: Mapped[str] = mapped_column(Text)  # JSON list (newsletter.preflight.findings)
    # The version whose held send the staff were mailed about: once per version of the draft.
    mailed_version: Mapped[int | None] = mapped_column(Integer)


class LinkCheck(Base):
    """How one URL of an issue answered the check: kept so that a re-check (every minute
    while a send is held) asks each server once, not once a minute."""

    __tablename__ = "link_checks"

    issue_id: Mapped[int] = mapped_column(
        ForeignKey("issues.id", ondelete="CASCADE"), primary_key=True
    )
    url_key: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of url
    url: Mapped[str] = mapped_column(Text)
    status: Mapped[int | None] = mapped_column(Integer)  # final HTTP status; None: no answer
    final_url: Mapped[str | None] = mapped_column(Text)  # where redirects ended
    error: Mapped[str | None] = mapped_column(Text)  # why there was no answer
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)
