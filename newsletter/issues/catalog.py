"""Stored reviews an editor may pin, found by words of the title or the URL (read-only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from newsletter.models import Review

SEARCH_LIMIT = 50


@dataclass(frozen=True)
class ReviewHit:
    id: int
    url: str
    title: str
    category: str
    score: float | None
    score_max: float | None
    published_at: datetime


def like_pattern(text: str) -> str:
    """``text`` as a LIKE pattern matching it anywhere, its own ``%`` and ``_`` literal."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_reviews(session: Session, text: str, limit: int = 20) -> list[ReviewHit]:
    """Reviews whose title or URL holds every word of ``text`` (case-insensitive), newest
    first; an empty ``text`` gives the newest reviews."""
    query = select(Review).order_by(Review.published_at.desc(), Review.id.desc())
    printable = "".join(ch if ch.isprintable() else " " for ch in text)
    for word in printable.split()[:8]:
        pattern = like_pattern(word.lower())
        query = query.where(
            or_(
                func.lower(Review.title).like(pattern, escape="\\"),
                func.lower(Review.url).like(pattern, escape="\\"),
            )
        )
    rows = session.scalars(query.limit(max(1, min(limit, SEARCH_LIMIT))))
    return [
        ReviewHit(r.id, r.url, r.title, r.category, r.score, r.score_max, r.published_at)
        for r in rows
    ]
