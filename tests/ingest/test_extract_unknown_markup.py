"""Markup no plugin rule was written for: unknown review boxes, verdicts in prose, RSS bylines.

Issue 13 item 9. Pages and feeds under tests/fixtures/{pages,feeds}/ (pure), then the rules on
fragments: an overall score in data attributes or a final-score element, never one criterion; a
verdict as "N/M" or "N out of M", with or without stars, under a label; a score mentioned in
passing in prose is no score and does not make a feature a review.
"""

from __future__ import annotations

import pytest

from newsletter.ingest import parse_source
from newsletter.ingest.html import byline, parse_fragment
from newsletter.ingest.records import Parsed, ReviewRecord
from newsletter.ingest.reviewbox import ReviewFacts, review_facts
from newsletter.ingest.scoretext import parse_score, prose_verdict
from tests.helpers.env import FIXTURES

SITE = "https://critics.example.org/"


def _page(name: str) -> ReviewRecord:
    path = FIXTURES / "pages" / name
    parsed = parse_source(str(path), path.read_bytes(), "page", SITE)
    assert isinstance(parsed, Parsed)
    assert parsed.rejections == []
    (record,) = parsed.records
    return record


def facts(markup: str) -> ReviewFacts:
    return review_facts(parse_fragment(markup))


@pytest.mark.parametrize(
    ("name", "score", "scale"),
    [
        # total in data-review-score/data-max; the criteria's data-score 9, 6, 10 are ignored
        ("review-moss-and-mortar.html", 8.5, 10),
        # "Final score 7/10" after rows printing 9/10, 6/10, 5/10 in cells of their own
        ("review-signal-lost.html", 7, 10),
        # every row has data-rating; the one labelled "Overall", on the container's data-best;
        # the reader poll's data-rating 2.1 is not ours
        ("review-harbour-lights.html", 4, 5),
    ],
)
def test_unknown_review_boxes_give_the_overall_score(name: str, score: float, scale: float) -> None:
    page = _page(name)
    assert (page.score, page.score_max) == (score, scale)
    assert page.is_review  # by its box: none of these titles says REVIEW


@pytest.mark.parametrize(
    ("name", "score", "scale"),
    [
        # "Verdict: 4 out of 5 stars. Quick to teach..." after a passing "rated 3 out of 5"
        ("review-ember-court.html", 4, 5),
        # "Rating: 8/10 – sharp, funny..." opening a long paragraph
        ("review-velvet-static.html", 8, 10),
        # "★★★★☆ 4/5" under a verdict heading
        ("review-paper-moons.html", 4, 5),
    ],
)
def test_prose_verdicts_give_score_and_scale(name: str, score: float, scale: float) -> None:
    page = _page(name)
    assert (page.score, page.score_max) == (score, scale)
    assert page.is_review


@pytest.mark.parametrize(
    "name", ["feature-ten-years-of-lantern-knights.html", "feature-players-choice-winter.html"]
)
def test_a_score_mentioned_in_passing_does_not_make_a_review(name: str) -> None:
    page = _page(name)
    assert (page.score, page.score_max, page.is_review) == (None, None, False)


def test_rss_bylines_and_unknown_boxes_in_a_feed() -> None:
    path = FIXTURES / "feeds" / "authors.rss.xml"
    parsed = parse_source(str(path), path.read_bytes(), "rss", SITE)
    assert isinstance(parsed, Parsed)
    assert parsed.rejections == []
    got = [(r.author, r.score, r.score_max, r.is_review) for r in parsed.records]
    assert got == [
        ("Rufus Tan", 8.5, 10, True),  # "rufus.tan@... (Rufus Tan)", data attributes
        (None, 4, 5, True),  # an address alone is no byline; "Verdict: 4 out of 5 stars."
        ("Kim Park", 8, 10, True),  # "Kim Park <kim.park@...>"; "Rating: 8/10 – ..."
        (None, 4, 5, True),  # "noreply@... (Unknown)"; "★★★★☆ 4/5" under "The verdict"
        ("Ada Quill", None, None, False),  # a feature quoting old scores
    ]
    for record in parsed.records:
        assert "@" not in (record.author or "")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("jane@example.com (Jane Doe)", "Jane Doe"),  # RSS 2.0
        ("  JANE@EXAMPLE.COM  ( Jane   Doe ) ", "Jane Doe"),
        ("jane@example.com (Jane &amp; Co)", "Jane & Co"),
        ("Jane Doe (jane@example.com)", "Jane Doe"),
        ("Jane Doe <jane@example.com>", "Jane Doe"),
        ("Jane Doe", "Jane Doe"),
        ("Unknown", "Unknown"),  # a name (odd, but not ours to drop) without an address
        ("jane@example.com", None),
        ("mailto:jane@example.com", None),
        ("noreply@blogger.com (Unknown)", None),
        ('<a href="mailto:jane@example.com">jane@example.com</a>', None),
        ("", None),
        (None, None),
    ],
)
def test_byline(raw: str | None, expected: str | None) -> None:
    assert byline(raw) == expected


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        # the box element itself carries the total; its rows carry criteria
        (
            '<div class="xr" data-rating="7.8"><p class="xr-row" data-rating="9">Art</p>'
            '<p class="xr-row" data-rating="5">Plot</p></div>',
            (7.8, 10),
        ),
        # the attribute name says overall; a star-type box is out of 5
        (
            '<div class="sr-stars"><i data-score="5">Music</i>'
            '<i data-overall-score="3.5"></i></div>',
            (3.5, 5),
        ),
        # schema.org Rating in microdata without a Review around it, and in RDFa
        (
            '<div itemprop="reviewRating" itemscope itemtype="https://schema.org/Rating">'
            '<meta itemprop="ratingValue" content="8"><meta itemprop="bestRating" content="10">'
            "</div>",
            (8, 10),
        ),
        (
            '<div property="reviewRating" typeof="Rating"><b property="ratingValue">4.5</b></div>',
            (4.5, 5),
        ),
        # data-score written as a fraction
        ('<div class="box" data-score="4/5"></div>', (4, 5)),
        # a final-score element: class says final, the box says score
        (
            '<div class="game-score"><div class="gs-crit">Graphics 9</div>'
            '<div class="gs-crit">Story 6</div><div class="gs-final">Overall 7.5</div></div>',
            (7.5, 10),
        ),
        # a table of criteria with a total row
        (
            "<table><tr><td>Graphics</td><td>9/10</td></tr><tr><td>Story</td><td>6/10</td></tr>"
            "<tr><th>Total</th><td>7/10</td></tr></table>",
            (7, 10),
        ),
        # label then a bare number in the next block
        ("<h4>Final score</h4><p>8.5</p>", (8.5, 10)),
        # a verdict heading, a paragraph that ends with the score
        ("<h3>Verdict</h3><p>Clever and kind, a little long. A must-play. 9/10</p>", (9, 10)),
        ("<p>Score: 3.5 of 5</p>", (3.5, 5)),
        ("<p>Rating: ★★★☆☆</p>", (3, 5)),
        ("<p>★★★★★</p>", (5, 5)),
    ],
)
def test_general_box_and_text_rules(markup: str, expected: tuple[float, float]) -> None:
    found = facts(markup)
    assert (found.score, found.score_max) == expected


@pytest.mark.parametrize(
    "markup",
    [
        # peers with no mark: which one is the total is a guess, so none is taken
        '<ul><li data-score="9">Graphics</li><li data-score="6">Story</li></ul>',
        # readers' ratings and cards linking to other posts
        '<div class="user-rating" data-rating="3.2" data-max="5"></div>',
        '<a href="/other/"><span class="review-final-score">9/10</span></a>',
        # players' ratings: an AggregateRating is never the post's score
        '<div itemprop="aggregateRating" itemscope itemtype="https://schema.org/AggregateRating">'
        '<span itemprop="ratingValue">4.2</span> from '
        '<span itemprop="reviewCount">900</span></div>',
        # criteria rows without any total
        "<dl><dt>Graphics</dt><dd>9/10</dd><dt>Story</dt><dd>6/10</dd></dl>",
        # passing mentions
        "<p>The original got 9/10 from us back in 2015.</p>",
        "<p>Rated 4 out of 5 by players, it sold a million.</p>",
        "<p>Verdict: the 9/11 documentary airs Friday.</p>",
        "<p>Our rating system changed in 2024/25, and scores are now out of 5.</p>",
    ],
)
def test_no_score_where_none_is_given(markup: str) -> None:
    assert facts(markup).score is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Verdict: 4 out of 5 stars", (4, 5)),
        ("Rating: 8/10", (8, 10)),
        ("Final verdict – 7.5/10.", (7.5, 10)),
        ("So there it is. Our score: 3/5 — flawed but lovable.", (3, 5)),
        ("Verdict: A tense, clever thriller that sags in the middle. 4 out of 5 stars.", (4, 5)),
        ("the original got 9/10 from us back in 2015", None),
        ("rated 4 out of 5 by players", None),
        ("Verdict: it plays 24/7 on the radio", None),
        ("Rating: 8/1000 is not a scale", None),
    ],
)
def test_prose_verdict(text: str, expected: tuple[float, float] | None) -> None:
    assert prose_verdict(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("★★★★☆ 4/5", (4, 5)),
        ("★★★★☆ (4/5)", (4, 5)),
        ("4/5 ★★★★☆", (4, 5)),
        ("★★★★☆", (4, 5)),
        ("★★★", None),  # no empty star, not five or ten: the scale is unknown
        ("Overall 8.2", None),  # a bare number needs a known scale
    ],
)
def test_stars_as_a_score(text: str, expected: tuple[float, float] | None) -> None:
    assert parse_score(text) == expected


def test_json_ld_aggregate_rating_is_players_not_ours() -> None:
    page = (
        b"<html><head><link rel='canonical' href='https://critics.example.org/hollow-pines/'>"
        b'<script type="application/ld+json">{"@type": "VideoGame", "name": "Hollow Pines", '
        b'"aggregateRating": {"@type": "AggregateRating", "ratingValue": 4, "bestRating": 5, '
        b'"ratingCount": 900}}</script>'
        b"<meta property='article:published_time' content='2025-11-04T15:00:00Z'></head><body>"
        b"<article><h1>Hollow Pines Tops the Players' Survey</h1><p>Rated 4 out of 5 by players."
        b"</p></article></body></html>"
    )
    parsed = parse_source("x.html", page, "page", SITE)
    assert isinstance(parsed, Parsed)
    (record,) = parsed.records
    assert (record.score, record.is_review) == (None, False)


def test_a_page_author_that_is_an_address_is_skipped_for_a_name() -> None:
    page = (
        b"<html><head><link rel='canonical' href='https://critics.example.org/review-z/'>"
        b'<script type="application/ld+json">{"@type": "Article", "headline": "REVIEW: Z", '
        b'"author": {"@type": "Person", "name": "desk@critics.example.org"}, '
        b'"datePublished": "2025-11-04T15:00:00Z"}</script>'
        b"<meta name='author' content='desk@critics.example.org'></head><body><article>"
        b"<h1>REVIEW: Z</h1><a rel='author' href='/author/lu/'>Lu Wen</a></article></body></html>"
    )
    parsed = parse_source("z.html", page, "page", SITE)
    assert isinstance(parsed, Parsed)
    (record,) = parsed.records
    assert record.author == "Lu Wen"
