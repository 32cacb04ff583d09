"""Field normalization: plain text, timestamps, scores and record validation (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from newsletter.ingest.normalize import ItemRejected, make_record, parse_timestamp, plain_text
from newsletter.ingest.urls import canonical_url, is_post_path, url_key


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("REVIEW: &#8216;Ballerina&#8217;", "REVIEW: ‘Ballerina’"),
        ("Ink &amp;amp; Iron", "Ink & Iron"),
        ("It&amp;#8217;s here", "It’s here"),
        ("<p>Two\n\n   lines</p><p>here</p>", "Two lines here"),
        ("Safe <script>alert(1)</script>text", "Safe text"),
        ("<img src=x onerror=alert(1)>Title", "Title"),
        ("&lt;script&gt;alert(1)&lt;/script&gt;Escaped", "Escaped"),
        ("a < b and c > d", "a < b and c > d"),
        ("   ", None),
        (None, None),
    ],
)
def test_plain_text(raw: str | None, expected: str | None) -> None:
    assert plain_text(raw) == expected


def test_timestamps_become_utc() -> None:
    assert parse_timestamp("2023-10-06T09:00:00-04:00") == datetime(2023, 10, 6, 13, tzinfo=UTC)
    assert parse_timestamp("Fri, 06 Oct 2023 13:00:00 GMT") == datetime(2023, 10, 6, 13, tzinfo=UTC)
    # no offset: the site's zone (America/New_York; EST in December)
    assert parse_timestamp("2025-12-03T10:00:00") == datetime(2025, 12, 3, 15, tzinfo=UTC)
    with pytest.raises(ValueError, match="unparsable date"):
        parse_timestamp("next week")


def _base(**changes: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "url": "https://reviews.example.com/x/",
        "title": "REVIEW: X",
        "category": "PS5",
        "published_at": "2026-11-20T10:00:00Z",
        "score": "8.5",
        "score_max": "10",
    }
    fields.update(changes)
    return fields


def test_make_record_normalizes() -> None:
    record = make_record(_base(author="  Ana  Lima ", tldr="<b>Great</b> fun"))
    assert record.category == "Video Games"
    assert record.score == 8.5
    assert record.score_max == 10
    assert record.score_norm == 8.5
    assert record.author == "Ana Lima"
    assert record.tldr == "Great fun"
    assert record.is_review
    four_of_five = make_record(_base(score=4, score_max=5))
    assert four_of_five.score_norm == 8.0


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"url": ""}, "missing_link"),
        ({"url": "ftp://x/"}, "missing_link"),
        ({"title": ""}, "missing_title"),
        ({"title": "x" * 301}, "title_too_long"),
        ({"published_at": "soon"}, "invalid_date"),
        ({"score": 11}, "absurd_score"),
        ({"score": -1}, "absurd_score"),
        ({"score": 3, "score_max": 1000}, "absurd_score"),
        ({"score": "lots"}, "invalid_field"),
    ],
)
def test_make_record_rejects_with_reason(changes: dict[str, object], reason: str) -> None:
    with pytest.raises(ItemRejected) as caught:
        make_record(_base(**changes))
    assert caught.value.reason == reason


def test_unusable_image_is_dropped_not_the_review() -> None:
    assert make_record(_base(image_url="javascript:alert(1)")).image_url is None
    assert make_record(_base(image_url="/x.jpg")).image_url is None


def test_unscored_news_is_not_a_review() -> None:
    record = make_record(_base(title="Studio news", score=None, score_max=None))
    assert not record.is_review
    assert record.score is None
    recap = make_record(_base(title="RECAP: Episode 5", score=7, score_max=10))
    assert recap.is_review


def test_urls() -> None:
    assert canonical_url("HTTPS://Reviews.Example.com/a/?utm_source=x&p=2#c") == (
        "https://reviews.example.com/a/?p=2"
    )
    assert (
        canonical_url("/b/", "https://reviews.example.com/feed/")
        == "https://reviews.example.com/b/"
    )
    assert canonical_url("mailto:x@y") == ""
    assert (
        url_key("https://www.Reviews.example.com/a?utm_source=n#x")
        == "https://reviews.example.com/a/"
    )
    assert url_key("/a", "https://reviews.example.com/") == "https://reviews.example.com/a/"
    assert is_post_path("https://reviews.example.com/a/")
    assert not is_post_path("https://reviews.example.com/")
    assert not is_post_path("https://reviews.example.com/category/film/")
