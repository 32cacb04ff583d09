"""Storing what extractors return: reviews upserted by canonical URL, daily views replaced.

Both functions run inside the caller's transaction, so a source lands completely or not at all.
Re-storing the same records changes nothing (compared by content hash, per source); a changed
review is updated in place and keeps its ``first_seen_at``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

from sqlalchemy import insert, select, tuple_, update
from sqlalchemy.orm import Session

from newsletter.ingest.records import ReviewRecord
from newsletter.ingest.urls import url_key
from newsletter.models import Review, ReviewMetric, ReviewSource, utcnow
from newsletter.sections import OTHER

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


def merge(stored: ReviewRecord, incoming: ReviewRecord) -> ReviewRecord:
    """``incoming`` over ``stored``: a field the incoming source does not carry (``None``, or a
    category it cannot place) never erases what another source supplied."""
    has_score = incoming.score is not None
    return replace(
        incoming,
        category=incoming.category if incoming.category != OTHER else stored.category,
        author=incoming.author or stored.author,
        updated_at=incoming.updated_at or stored.updated_at,
        score=incoming.score if has_score else stored.score,
        score_max=incoming.score_max if has_score else stored.score_max,
        tldr=incoming.tldr or stored.tldr,
        excerpt=incoming.excerpt or stored.excerpt,
        image_url=incoming.image_url or stored.image_url,
        is_review=incoming.is_review or stored.is_review,
    )


def _as_record(row: Review) -> ReviewRecord:
    return ReviewRecord(
        row.url,
        row.title,
        row.category,
        row.author,
        row.published_at,
        row.updated_at,
        row.score,
        row.score_max,
        row.tldr,
        row.excerpt,
        row.image_url,
        row.is_review,
    )


def source_key(source: str) -> str:
    return hashlib.sha1(source.encode("utf-8"), usedforsecurity=False).hexdigest()


def store_reviews(
    session: Session,
    records: Iterable[ReviewRecord],
    now: datetime | None = None,
    source: str = "",
) -> StoreCounts:
    """Upsert ``records`` from ``source`` by URL. A URL repeated within one call keeps its
    last record.

    A review is new, updated (its stored fields changed) or unchanged. When ``source`` says
    exactly what it said last time about a review, the review is left alone even if another
    source has since supplied different values; when it says something new, its non-empty
    fields are merged over the stored ones (:func:`merge`). ``first_seen_at`` never moves.
    """
    now = now or utcnow()
    key = source_key(source)
    latest: dict[str, ReviewRecord] = {}
    for record in records:
        latest[record.url] = record
    counts = StoreCounts()
    urls = list(latest)
    for start in range(0, len(urls), CHUNK):
        chunk = urls[start : start + CHUNK]
        # One query for the stored rows and what this source said about them last time.
        joined = session.execute(
            select(Review, ReviewSource.content_hash)
            .outerjoin(
                ReviewSource,
                (ReviewSource.review_id == Review.id) & (ReviewSource.source_key == key),
            )
            .where(Review.url.in_(chunk))
        ).all()
        rows = {row.url: row for row, _ in joined}
        said = {row.id: digest for row, digest in joined if digest is not None}
        inserts: list[dict[str, object]] = []
        provenance: dict[str, str] = {}
        for url in chunk:
            record = latest[url]
            digest = record.content_hash()
            row = rows.get(url)
            if row is None:
                inserts.append(_columns(record, digest) | {"first_seen_at": now, "changed_at": now})
                provenance[url] = digest
                counts.new += 1
                continue
            if said.get(row.id) == digest:
                counts.unchanged += 1
                continue
            merged = merge(_as_record(row), record)
            merged_digest = merged.content_hash()
            if merged_digest == row.content_hash:
                counts.unchanged += 1
            else:
                session.execute(
                    update(Review)
                    .where(Review.id == row.id)
                    .values(_columns(merged, merged_digest) | {"changed_at": now})
                )
                counts.updated += 1
            _remember(session, row.id, key, digest, known=row.id in said)
        if inserts:
            new_ids = session.execute(insert(Review).returning(Review.url, Review.id), inserts)
            session.execute(
                insert(ReviewSource),
                [
                    {"review_id": rid, "source_key": key, "content_hash": provenance[u]}
                    for u, rid in new_ids
                ],
            )
    return counts


def _remember(session: Session, review_id: int, key: str, digest: str, *, known: bool) -> None:
    if known:
        session.execute(
            update(ReviewSource)
            .where(ReviewSource.review_id == review_id, ReviewSource.source_key == key)
            .values(content_hash=digest)
        )
    else:
        session.execute(
            insert(ReviewSource).values(review_id=review_id, source_key=key, content_hash=digest)
        )


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
