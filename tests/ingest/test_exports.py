"""Export and analytics parsing: our own fixtures, then the shared conformance corpus."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from newsletter.ingest import parse_source
from newsletter.ingest.exports import parse_csv, parse_jsonl, to_row
from newsletter.ingest.pageviews import PageViews, parse_pageviews
from newsletter.ingest.records import Parsed, ReviewRecord, SourceError
from tests.helpers.env import FIXTURES, SHARED_FIXTURES

SITE = "https://reviews.example.com/"


def test_jsonl_quirks() -> None:
    parsed = parse_jsonl((FIXTURES / "exports/quirks.jsonl").read_bytes(), "quirks.jsonl")
    by_url = {r.url: r for r in parsed.records}
    assert list(by_url) == [
        "https://reviews.example.com/review-moonlit-ferry/",
        "https://reviews.example.com/review-signal-lost/",
        "https://reviews.example.com/review-ink-and-iron-3/",
        "https://reviews.example.com/kdrama-crown/",
        "https://reviews.example.com/unknown-cat/",
    ]
    ferry = by_url["https://reviews.example.com/review-moonlit-ferry/"]
    assert ferry.title == "REVIEW: ‘Moonlit Ferry’ Sails Smoothly"
    assert ferry.published_at.isoformat() == "2026-11-20T14:30:00+00:00"
    signal = by_url["https://reviews.example.com/review-signal-lost/"]
    assert signal.tldr == "Tense and short."
    assert signal.category == "Video Games"
    assert signal.image_url is None
    assert (signal.score, signal.score_max) == (3.5, 5)
    ink = by_url["https://reviews.example.com/review-ink-and-iron-3/"]
    assert ink.title == "REVIEW: Ink & Iron #3"
    assert ink.category == "Comics"
    assert ink.tldr == "Double-escaped ’s are decoded."
    assert ink.score is None
    crown = by_url["https://reviews.example.com/kdrama-crown/"]
    assert crown.title == "REVIEW: ‘크라운’ Crown"
    assert crown.category == "TV"
    cookbook = by_url["https://reviews.example.com/unknown-cat/"]
    assert cookbook.category == "Other"
    assert cookbook.image_url is None
    reasons = sorted(r.reason for r in parsed.rejections)
    assert reasons == sorted(
        ["invalid_json", "missing_link", "invalid_date", "absurd_score", "title_too_long"]
    )
    where = {r.reason: r.where for r in parsed.rejections}
    assert where["invalid_json"] == "line 5"  # line numbers count the blank line too


def test_csv_quirks() -> None:
    parsed = parse_csv((FIXTURES / "exports/quirks.csv").read_bytes(), "quirks.csv")
    titles = [r.title for r in parsed.records]
    assert titles == [
        "REVIEW: ‘Moonlit Ferry’ Sails Smoothly",
        'REVIEW: Deck Of Stars, A Tabletop "Gem"',
        "Studio News Roundup",
    ]
    deck = parsed.records[1]
    assert deck.tldr == "Quoted, multi-line TL;DR text."
    assert deck.score is None
    assert deck.published_at.isoformat() == "2026-11-19T17:00:00+00:00"
    assert deck.is_review  # exports hold reviews unless is_review says otherwise
    assert not parsed.records[2].is_review
    assert parsed.records[2].category == "Other"
    assert [(r.where, r.reason) for r in parsed.rejections] == [("line 6", "missing_link")]


@pytest.mark.parametrize("payload", [b"\x89PNG\r\n\x1a\n\x00\x00", b"", b"[1, 2, 3]\n"])
def test_jsonl_that_is_not_an_export_is_a_source_error(payload: bytes) -> None:
    with pytest.raises(SourceError):
        parse_jsonl(payload, "x.jsonl")


def test_csv_without_required_columns_is_a_source_error() -> None:
    with pytest.raises(SourceError, match="missing column"):
        parse_csv(b"name,age\nx,1\n", "people.csv")


def test_pageviews_fold_urls_and_exclude_non_posts() -> None:
    views = parse_pageviews((FIXTURES / "analytics/pageviews.csv").read_bytes(), "pv.csv", SITE)
    totals = views.totals()
    assert totals == {
        "https://reviews.example.com/review-moonlit-ferry/": 2400,
        "https://reviews.example.com/review-signal-lost/": 462,
    }
    assert set(views.excluded) == {
        "https://reviews.example.com/",
        "https://reviews.example.com/category/reviews/",
        "https://reviews.example.com/tag/horror/",
    }
    assert [(r.where, r.reason) for r in views.rejections] == [
        ("line 9", "invalid_views"),
        ("line 10", "invalid_views"),
    ]
    assert views.top(1) == [("https://reviews.example.com/review-moonlit-ferry/", 2400)]


# -- the shared conformance corpus (../shared/fixtures), for the formats built so far --------


def _corpus(kind: str) -> list[Path]:
    folder = SHARED_FIXTURES / kind
    return sorted(folder.iterdir()) if folder.is_dir() else []


def _expected(path: Path) -> dict[str, Any]:
    relative = path.relative_to(SHARED_FIXTURES)
    data: dict[str, Any] = json.loads(
        (SHARED_FIXTURES / "expected" / f"{relative}.json").read_text(encoding="utf-8")
    )
    return data


def _as_dict(record: ReviewRecord) -> dict[str, Any]:
    """A record as the corpus writes it: no excerpt, no category where ours says Other."""
    row = to_row(record)
    del row["excerpt"]
    row["category"] = None if record.category == "Other" else record.category
    return row


needs_corpus = pytest.mark.skipif(
    not SHARED_FIXTURES.is_dir(), reason=f"conformance corpus not found at {SHARED_FIXTURES}"
)


@needs_corpus
@pytest.mark.parametrize("path", _corpus("exports"), ids=lambda p: p.name)
def test_conformance_exports(path: Path) -> None:
    expected = _expected(path)
    parsed = parse_source(str(path), path.read_bytes(), expected["format"], SITE)
    assert isinstance(parsed, Parsed)
    assert [_as_dict(r) for r in parsed.records] == expected["records"]


@needs_corpus
@pytest.mark.parametrize("path", _corpus("analytics"), ids=lambda p: p.name)
def test_conformance_pageviews(path: Path) -> None:
    expected = _expected(path)
    views = parse_source(str(path), path.read_bytes(), "pageviews", SITE)
    assert isinstance(views, PageViews)
    assert [{"url": u, "views": v} for u, v in views.top(5)] == expected["top5"]
    assert views.totals() == {t["url"]: t["views"] for t in expected["totals"]}
    assert views.excluded == {e["url"]: e["views"] for e in expected["excluded"]}
    assert [r.reason for r in views.rejections] == [r["reason"] for r in expected["rejected"]]
