"""Review-page extraction over our own fixtures (tests/fixtures/pages/), pure."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime

import pytest

from newsletter.ingest import parse_source
from newsletter.ingest.pages import parse_page
from newsletter.ingest.records import Parsed, ReviewRecord, SourceError
from tests.helpers.env import FIXTURES

SITE = "https://critics.example.org/"
HOSTILE = ("<script", "</script", "alert(", "onerror", "<img", "javascript:", "<b>")


def _parsed(name: str, base_url: str | None = None) -> Parsed:
    path = FIXTURES / "pages" / name
    parsed = parse_source(str(path), path.read_bytes(), "page", SITE, base_url)
    assert isinstance(parsed, Parsed)
    return parsed


def _page(name: str, base_url: str | None = None) -> ReviewRecord:
    parsed = _parsed(name, base_url)
    assert parsed.rejections == []
    (record,) = parsed.records
    return record


def test_full_page_reads_the_article_not_the_page_around_it() -> None:
    page = _page("review-saltwater-saints.html")
    # canonical link (og:url carries a utm_ parameter)
    assert page.url == "https://critics.example.org/review-saltwater-saints/"
    # Yoast @graph Article: headline (no " | Critics Circle"), author by @id, datePublished
    assert page.title == "REVIEW: ‘Saltwater Saints’ Is a Slow Burn"
    assert page.author == "Mara Okafor"
    assert page.published_at == datetime(2025, 9, 12, 14, tzinfo=UTC)
    # JSON-LD Review: ratingValue 4, bestRating 5; not the trending 9.5/10 or 2/10, not the
    # related 5/10, the sidebar 10/10, the author box 3/10 or the bare 10/10 in prose
    assert (page.score, page.score_max) == (4, 5)
    assert page.tldr == "Beautiful, cold and very, very patient."
    assert page.category == "Film"
    assert page.image_url == "https://img.critics.example.org/2025/09/saltwater-saints.jpg"
    assert page.excerpt == "A fishing village keeps a terrible secret."
    assert page.is_review


def test_trending_cards_marked_like_posts_are_not_the_article() -> None:
    # the header cards carry the theme's post_class() (hentry, id="post-655") as the article
    # does, and come first; without JSON-LD every fact must come from the article itself
    page = _page("review-lamplighter.html")
    assert page.title == "REVIEW: Lamplighter"
    assert page.author == "Ada Quill"
    assert page.published_at == datetime(2025, 10, 20, 22, tzinfo=UTC)
    assert (page.score, page.score_max) == (6.5, 10)
    assert page.tldr == "Warm light, thin wick."


def test_review_json_ld_with_date_only_and_unicode_escapes() -> None:
    page = _page("review-iron-vow-4.html")
    # the Review's datePublished is "2025-08-21"; the time is article:published_time
    # (22:30 EDT, so the next day in UTC)
    assert page.published_at == datetime(2025, 8, 22, 2, 30, tzinfo=UTC)
    assert (page.score, page.score_max) == (4, 5)  # "4" of "5", as strings
    assert page.author == "Tomás Ruíz"  # \u00e1 and \u00ed escapes
    assert page.title == "REVIEW: ‘Iron Vow’ #4"
    assert page.category == "Comics"  # article:section "Marvel Comics"
    assert page.tldr == "The best fight of the run, with a heart to match."  # TL;DR heading


def test_microdata_review_without_json_ld() -> None:
    page = _page("review-copper-kingdom.html")
    assert page.url == "https://critics.example.org/review-copper-kingdom/"  # og:url
    assert page.title == "REVIEW: Copper Kingdom"
    assert (page.score, page.score_max) == (3.5, 5)
    assert page.author == "Lena Fischer"
    assert page.published_at == datetime(2025, 5, 3, 7, tzinfo=UTC)
    assert page.category == "Tabletop"
    assert page.tldr is None
    assert page.is_review


def test_feature_page_without_canonical_or_og_url() -> None:
    fetched = "https://critics.example.org/fall-lineup-preview/?utm_source=nl&utm_medium=email"
    page = _page("fall-lineup-preview.html", fetched)
    assert page.url == "https://critics.example.org/fall-lineup-preview/"
    assert page.title == "The Fall Anime Lineup, Ranked by Hype"  # og:title minus " - site"
    # the trending card's 9/10, the sidebar's 8/10 and "10/10 on the hype meter" are not
    # this post's score
    assert (page.score, page.score_max, page.tldr) == (None, None, None)
    assert not page.is_review
    assert page.category == "Anime"  # Features is site-level
    assert page.published_at == datetime(2025, 9, 25, 12, tzinfo=UTC)
    assert page.author is None


@pytest.mark.parametrize(
    ("name", "base_url"),
    [
        ("fall-lineup-preview.html", "https://critics.example.org/fall-lineup-preview/"),
        ("review-quiet-engine.html", None),  # no og:image, but a <base href>
        ("review-glitter-trap.html", "https://critics.example.org/review-glitter-trap/"),
    ],
)
def test_page_without_usable_og_image_has_no_image(name: str, base_url: str | None) -> None:
    assert _page(name, base_url).image_url is None


def test_page_with_only_a_tldr() -> None:
    page = _page("review-quiet-river.html")
    assert page.title == "REVIEW: Quiet River, Episode 7"  # <title> minus " | site"
    assert page.tldr == "Small, tender and the best hour of the season."
    assert (page.score, page.score_max) == (None, None)
    assert page.is_review  # title starts with REVIEW
    assert page.author == "Hana Seo"
    assert page.published_at == datetime(2025, 11, 3, 2, tzinfo=UTC)  # EST


def test_latin1_bytes_under_a_utf8_declaration() -> None:
    parsed = _parsed("latin1-mislabeled.html")
    (page,) = parsed.records
    assert parsed.notes  # the fallback is reported
    assert "windows-1252" in parsed.notes[0]
    assert page.title == "REVIEW: Crème Brûlée à Minuit"
    assert page.author == "Zoë Hélie"
    assert page.tldr == "Légère, dorée et un peu trop sucrée."
    assert (page.score, page.score_max) == (7, 10)
    assert page.published_at == datetime(2025, 10, 14, 17, tzinfo=UTC)


def test_charset_given_by_the_caller() -> None:
    data = (FIXTURES / "pages/shift-jis-no-meta.html").read_bytes()
    fetched = "https://critics.example.org/review-tsuki-no-niwa-1/?utm_campaign=x"
    parsed = parse_page(data, "sjis.html", fetched, "Shift_JIS")
    assert parsed.notes == []
    (page,) = parsed.records
    assert page.url == "https://critics.example.org/review-tsuki-no-niwa-1/"
    assert page.title == "REVIEW: 『月の庭』 第1話"
    assert page.tldr == "美しくて、少し寂しい。"
    assert (page.score, page.score_max) == (8, 10)
    assert page.published_at == datetime(2025, 10, 10, 14, 30, tzinfo=UTC)


def test_base_href_and_relative_canonical() -> None:
    page = _page("review-quiet-engine.html")
    assert page.url == "https://critics.example.org/reviews/2025/review-quiet-engine/"
    assert (page.score, page.score_max) == (6, 10)  # "Final score: 6/10"
    assert page.category == "Video Games"  # PC


def test_hostile_markup_is_never_stored() -> None:
    page = _page("review-glitter-trap.html")
    # canonical is javascript:, so og:url
    assert page.url == "https://critics.example.org/review-glitter-trap/"
    assert page.title == "REVIEW: Glitter Trap"
    assert page.author == "Eve Mallory"
    assert page.tldr is not None
    assert page.tldr.startswith("Shiny but hollow.")
    assert page.image_url is None  # og:image is javascript:
    for value in asdict(page).values():
        for bad in HOSTILE:
            assert bad not in str(value).lower()


def test_png_as_a_page_is_a_source_error() -> None:
    with pytest.raises(SourceError, match="PNG"):
        _parsed("cover.html")


@pytest.mark.parametrize(
    ("rating", "expected"),
    [
        ('{"ratingValue": "N/A", "bestRating": 10}', (6.0, 10.0)),  # unusable: the box speaks
        ('{"ratingValue": "8/10"}', (8.0, 10.0)),
        ('{"ratingValue": 0, "bestRating": 5}', (0.0, 5.0)),
        ('{"ratingValue": 8}', (8.0, 10.0)),  # no bestRating, over 5: out of 10
    ],
)
def test_json_ld_ratings_in_the_wild(rating: str, expected: tuple[float, float]) -> None:
    page = (
        "<html><head><link rel='canonical' href='https://critics.example.org/review-x/'>"
        '<script type="application/ld+json">{"@type": "Review", "datePublished": '
        f'"2025-01-02T10:00:00Z", "reviewRating": {rating}}}</script></head><body>'
        "<article class='hentry'><h1>REVIEW: X</h1><p>Rating: 6/10</p></article></body></html>"
    ).encode()
    parsed = parse_page(page, "x.html")
    assert parsed.rejections == []
    (record,) = parsed.records
    assert (record.score, record.score_max) == expected
