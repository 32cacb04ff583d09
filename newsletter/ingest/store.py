"""Storing what extractors return: reviews upserted by canonical URL, daily views replaced.

Both functions run inside the caller's transaction, so a source lands completely or not at all.
Re-storing the same records changes nothing (compared by content hash); a changed review is
updated in place and keeps its ``first_seen_at``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import insert, select, tuple_, update
from sqlalchemy.orm import Session

from newsletter.ingest.records import ReviewRecord
from newsletter.ingest.urls import url_key
from newsletter.models import Review, ReviewMetric, utcnow

CHUNK = 500


@dataclass
class StoreCounts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0

    def __iadd__(self, other: StoreCounts) -> StoreCounts:
        self.new += other.new
        self.updated += other.updated
        self.unchanged += other.unchanged
        return self


def _columns(record: ReviewRecord, content_hash: str) -> dict[str, object]:
    return {
        "url": record.url,
        "url_key": url_key(record.url),
        "title": record.title,
        "category": record.category,
        "author": record.author,
        "published_at": record.published_at,
        "updated_at": record.updated_at,
        "score": record.score,
        "score_max": record.score_max,
        "score_norm": record.score_norm,
        "tldr": record.tldr,
        "excerpt": record.excerpt,
        "image_url": record.image_url,
        "is_review": record.is_review,
        "content_hash": content_hash,
    }


def store_reviews(
    session: Session, records: Iterable[ReviewRecord], now: datetime | None = None
) -> StoreCounts:
    """Upsert ``records`` by URL. A URL repeated within one call keeps its last record."""
    now = now or utcnow()
    latest: dict[str, ReviewRecord] = {}
    for record in records:
        latest[record.url] = record
    counts = StoreCounts()
    urls = list(latest)
    for start in range(0, len(urls), CHUNK):
        chunk = urls[start : start + CHUNK]
        existing = dict(
            session.execute(
                select(Review.url, Review.content_hash).where(Review.url.in_(chunk))
            ).all()
        )
        inserts: list[dict[str, object]] = []
        for url in chunk:
            record = latest[url]
            digest = record.content_hash()
            if url not in existing:
                inserts.append(_columns(record, digest) | {"first_seen_at": now, "changed_at": now})
                counts.new += 1
            elif existing[url] != digest:
                session.execute(
                    update(Review)
                    .where(Review.url == url)
                    .values(_columns(record, digest) | {"changed_at": now})
                )
                counts.updated += 1
            else:
                counts.unchanged += 1
        if inserts:
            session.execute(insert(Review), inserts)
    return counts


def store_daily_views(session: Session, daily: dict[tuple[str, date], int]) -> StoreCounts:
    """Set the views of each (url_key, day) to the given total; clicks are left alone."""
    counts = StoreCounts()
    keys: Sequence[tuple[str, date]] = sorted(daily)
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start : start + CHUNK]
        rows = session.execute(
            select(ReviewMetric.url_key, ReviewMetric.day, ReviewMetric.views).where(
                tuple_(ReviewMetric.url_key, ReviewMetric.day).in_(chunk)
            )
        )
        existing = {(key, day): views for key, day, views in rows}
        inserts: list[dict[str, object]] = []
        for key in chunk:
            views = daily[key]
            if key not in existing:
                inserts.append({"url_key": key[0], "day": key[1], "views": views, "clicks": 0})
                counts.new += 1
            elif existing[key] != views:
                session.execute(
                    update(ReviewMetric)
                    .where(ReviewMetric.url_key == key[0], ReviewMetric.day == key[1])
                    .values(views=views)
                )
                counts.updated += 1
            else:
                counts.unchanged += 1
        if inserts:
            session.execute(insert(ReviewMetric), inserts)
    return counts
