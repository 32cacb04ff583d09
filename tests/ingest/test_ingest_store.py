"""Ingest into the database: upserts by URL, idempotence, per-source atomicity."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.db import transaction
from newsletter.ingest import ingest_sources
from newsletter.ingest.records import ReviewRecord
from newsletter.ingest.store import store_reviews
from newsletter.models import Review, ReviewMetric
from tests.helpers.env import FIXTURES

SITE = "https://reviews.example.com/"


def _record(**changes: object) -> ReviewRecord:
    fields: dict[str, object] = {
        "url": "https://reviews.example.com/a/",
        "title": "REVIEW: A",
        "category": "Film",
        "author": "Jo",
        "published_at": datetime(2026, 11, 20, 10, tzinfo=UTC),
        "score": 7.0,
        "score_max": 10.0,
        "tldr": "Fine.",
    }
    fields.update(changes)
    return ReviewRecord(**fields)  # type: ignore[arg-type]


def test_upsert_new_unchanged_updated_keeps_first_seen(factory: sessionmaker[Session]) -> None:
    first = datetime(2026, 11, 20, 12, tzinfo=UTC)
    later = datetime(2026, 11, 22, 12, tzinfo=UTC)
    with transaction(factory) as session:
        counts = store_reviews(
            session, [_record(), _record(url="https://reviews.example.com/b/")], now=first
        )
    assert (counts.new, counts.updated, counts.unchanged) == (2, 0, 0)
    with transaction(factory) as session:
        counts = store_reviews(
            session,
            [_record(), _record(url="https://reviews.example.com/b/", tldr="Changed.")],
            now=later,
        )
    assert (counts.new, counts.updated, counts.unchanged) == (0, 1, 1)
    with factory() as session:
        b = session.scalars(select(Review).where(Review.url.endswith("/b/"))).one()
        assert b.tldr == "Changed."
        assert b.first_seen_at == first
        assert b.changed_at == later
        assert b.url_key == "https://reviews.example.com/b/"
        assert b.score_norm == 7.0


def test_ingest_reports_and_is_idempotent(factory: sessionmaker[Session]) -> None:
    sources = [str(FIXTURES / "exports/quirks.jsonl"), str(FIXTURES / "analytics/pageviews.csv")]
    first = ingest_sources(factory, sources, SITE)
    assert [r.error for r in first] == [None, None]
    assert first[0].format == "jsonl"
    assert first[1].format == "pageviews"
    assert (first[0].counts.new, len(first[0].rejections)) == (5, 5)
    assert first[1].counts.new == 4  # (post, day) pairs
    again = ingest_sources(factory, sources, SITE)
    assert [(r.counts.new, r.counts.updated) for r in again] == [(0, 0), (0, 0)]
    assert again[0].counts.unchanged == 5
    with factory() as session:
        views = session.scalar(
            select(ReviewMetric.views).where(ReviewMetric.day == date(2026, 11, 20))
        )
        assert views == 1500  # 1,200 + the utm/www variant's 300: merged, not doubled on re-run


def test_a_failing_source_stores_nothing_and_others_still_land(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.jsonl"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00binary")
    missing = tmp_path / "missing.csv"
    reports = ingest_sources(
        factory, [str(broken), str(missing), str(FIXTURES / "exports/quirks.csv")], SITE
    )
    assert reports[0].error is not None
    assert "binary" in reports[0].error
    assert reports[1].error is not None
    assert "No such file" in reports[1].error
    assert reports[2].error is None
    assert reports[2].counts.new == 3
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Review)) == 3


def test_a_failure_while_storing_rolls_the_whole_source_back(
    factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Chunks of one: three records are written before the fourth fails (a date that is not a
    # date); the transaction must take the first three back with it.
    from newsletter.ingest import store as store_module

    monkeypatch.setattr(store_module, "CHUNK", 1)
    records = [_record(url=f"https://reviews.example.com/{i}/") for i in range(3)]
    records.append(_record(url="https://reviews.example.com/3/", published_at="not a date"))
    with pytest.raises(AttributeError):
        _store_all(factory, records)
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Review)) == 0


def _store_all(factory: sessionmaker[Session], records: list[ReviewRecord]) -> None:
    with transaction(factory) as session:
        store_reviews(session, records)


def test_sources_that_disagree_settle_and_gaps_never_erase(
    factory: sessionmaker[Session],
) -> None:
    feed = _record(score=None, score_max=None, tldr=None, excerpt="From the feed.")
    page = _record(excerpt="From the page.", image_url="https://cdn.example.com/a.jpg")
    for _ in range(2):
        with transaction(factory) as session:
            store_reviews(session, [feed], source="feed.xml")
            store_reviews(session, [page], source="page.html")
    with transaction(factory) as session:
        again = store_reviews(session, [feed], source="feed.xml")
        again += store_reviews(session, [page], source="page.html")
    assert (again.new, again.updated, again.unchanged) == (0, 0, 2)
    with factory() as session:
        stored = session.scalars(select(Review)).one()
    assert (stored.score, stored.tldr, stored.image_url) == (
        7.0,
        "Fine.",
        "https://cdn.example.com/a.jpg",
    )
    assert stored.excerpt == "From the page."
    # When the feed changes what it says, its news is applied; the page's extras stay.
    with transaction(factory) as session:
        changed = store_reviews(
            session, [replace(feed, title="REVIEW: A, Revised")], source="feed.xml"
        )
    assert changed.updated == 1
    with factory() as session:
        stored = session.scalars(select(Review)).one()
    assert (stored.title, stored.score, stored.excerpt) == (
        "REVIEW: A, Revised",
        7.0,
        "From the feed.",
    )
