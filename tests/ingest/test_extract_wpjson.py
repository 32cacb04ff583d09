"""WordPress REST API (``/wp-json/wp/v2/posts?_embed``) extraction over our own fixtures, pure."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from newsletter.ingest import parse_source
from newsletter.ingest.records import Parsed, ReviewRecord, SourceError
from tests.helpers.env import FIXTURES

SITE = "https://critics.example.org/"


def _parse(name: str) -> Parsed:
    path = FIXTURES / "wp-json" / name
    parsed = parse_source(str(path), path.read_bytes(), "wp-json", SITE)
    assert isinstance(parsed, Parsed)
    return parsed


@pytest.fixture(scope="module")
def parsed() -> Parsed:
    return _parse("posts.json")


@pytest.fixture(scope="module")
def posts(parsed: Parsed) -> dict[str, ReviewRecord]:
    return {r.url.removeprefix(SITE).strip("/"): r for r in parsed.records}


def test_posts_in_order_and_the_one_without_link_rejected(parsed: Parsed) -> None:
    assert [r.url for r in parsed.records] == [
        "https://critics.example.org/review-hollow-crown/",
        "https://critics.example.org/winter-slate/",
        "https://critics.example.org/review-pixel-harbor/",
        "https://critics.example.org/review-meeple-mountain/",
        "https://critics.example.org/review-snow-district/",
    ]
    # post 904 has a ?p= guid and a slug, but no link: neither is a permalink
    assert [(r.where, r.reason) for r in parsed.rejections] == [("post 904", "missing_link")]


def test_review_post_fields(posts: dict[str, ReviewRecord]) -> None:
    crown = posts["review-hollow-crown"]
    assert crown.title == "REVIEW: ‘Hollow Crown’ & the “Lost” King"  # title.rendered entities
    assert crown.author == "Priya Das"  # _embedded.author[0].name
    # date_gmt, not date (local) nor modified_gmt
    assert crown.published_at == datetime(2025, 6, 14, 16, tzinfo=UTC)
    assert crown.category == "Film"  # categories Reviews, Film; the tag "TV" is ignored
    assert (crown.score, crown.score_max) == (8, 10)  # review box in content.rendered
    assert crown.tldr == "Grand, gloomy and gripping."
    assert crown.image_url == "https://img.critics.example.org/2025/06/hollow-crown.jpg"
    assert crown.excerpt == "A king without a kingdom."
    assert crown.is_review


def test_december_post_uses_date_gmt(posts: dict[str, ReviewRecord]) -> None:
    slate = posts["winter-slate"]
    # date 20:30 EST the day before; date_gmt is the truth
    assert slate.published_at == datetime(2025, 12, 5, 1, 30, tzinfo=UTC)
    assert slate.author == "Tomás Ruiz"


def test_tags_never_give_a_section(posts: dict[str, ReviewRecord]) -> None:
    # categories: Features only; tags "Film" and "Anime" must not count
    assert posts["winter-slate"].category == "Other"
    assert posts["review-pixel-harbor"].category == "Video Games"  # PS5


def test_feature_post_is_not_a_review(posts: dict[str, ReviewRecord]) -> None:
    slate = posts["winter-slate"]
    assert (slate.score, slate.score_max, slate.tldr, slate.is_review) == (
        None,
        None,
        None,
        False,
    )


@pytest.mark.parametrize(
    ("slug", "expected"),
    [
        # only "date": site-local America/New_York, EDT in July (crosses midnight UTC)
        ("review-pixel-harbor", datetime(2025, 7, 5, 0, 15, tzinfo=UTC)),
        # only "date" in December: EST, UTC-5
        ("review-snow-district", datetime(2025, 12, 20, 23, tzinfo=UTC)),
    ],
)
def test_post_with_only_local_date(
    posts: dict[str, ReviewRecord], slug: str, expected: datetime
) -> None:
    assert posts[slug].published_at == expected


def test_featured_media_absent_or_forbidden_means_no_image(
    posts: dict[str, ReviewRecord],
) -> None:
    assert posts["winter-slate"].image_url is None  # featured_media 0, no embed
    assert posts["review-pixel-harbor"].image_url is None  # rest_forbidden error object
    assert posts["review-pixel-harbor"].author == "Lena Fischer"


def test_custom_fields_in_acf(posts: dict[str, ReviewRecord]) -> None:
    meeple = posts["review-meeple-mountain"]
    assert (meeple.score, meeple.score_max) == (4, 5)
    assert meeple.tldr == "Steep rules, great summit."
    assert meeple.is_review
    assert meeple.category == "Tabletop"
    assert meeple.published_at == datetime(2025, 1, 15, 14, tzinfo=UTC)  # not modified_gmt


def test_api_error_object_is_a_source_error() -> None:
    with pytest.raises(SourceError, match="rest_no_route") as caught:
        _parse("api-error.json")
    assert caught.value.source.endswith("api-error.json")


def test_array_of_numbers_is_unexpected_structure() -> None:
    with pytest.raises(SourceError, match="unexpected structure"):
        _parse("numbers.json")


def test_invalid_json_is_a_source_error() -> None:
    with pytest.raises(SourceError) as caught:
        _parse("invalid.json")
    assert "JSON" in caught.value.reason


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("priya@critics.example.org", None),  # a display name left as the login address
        ("Priya Das <priya@critics.example.org>", "Priya Das"),
        ("Priya Das", "Priya Das"),
    ],
)
def test_an_author_shown_as_an_address_gives_no_byline(name: str, expected: str | None) -> None:
    """The same byline rule as feeds and pages: an address is never published as a byline."""
    posts = json.loads((FIXTURES / "wp-json" / "posts.json").read_text(encoding="utf-8"))
    posts[0]["_embedded"]["author"][0]["name"] = name
    data = json.dumps(posts).encode()
    parsed = parse_source("posts.json", data, "wp-json", SITE)
    assert isinstance(parsed, Parsed)
    first = next(r for r in parsed.records if r.url == posts[0]["link"])
    assert first.author == expected
