"""The review box and TL;DR reader on HTML fragments, plugin by plugin (pure)."""

from __future__ import annotations

import pytest

from newsletter.ingest.html import parse_fragment
from newsletter.ingest.reviewbox import ReviewFacts, parse_score, review_facts


def facts(markup: str) -> ReviewFacts:
    return review_facts(parse_fragment(markup))


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        # WP Review, percentage type: a bare total is out of 100
        (
            '<div class="review-wrapper wp-review-percentage-type"><div class="review-total-box">'
            '82</div><div class="review-desc"><p class="review-summary-title">TL;DR</p>'
            "<p>Sharp.</p></div></div>",
            ReviewFacts(82, 100, "Sharp.", has_box=True),
        ),
        # WP Review, star type: a bare total is out of 5
        (
            '<div class="review-wrapper wp-review-star-type"><div class="review-total-box">4.5'
            "</div></div>",
            ReviewFacts(4.5, 5, None, has_box=True),
        ),
        # WP Review without a total: the mean of the criteria
        (
            '<div class="review-wrapper"><ul class="review-list"><li>Story - 9/10</li>'
            "<li>Art - 6/10</li></ul></div>",
            ReviewFacts(7.5, 10, None, has_box=True),
        ),
        # Taqyeem (TieLabs themes)
        (
            '<div class="review_wrap"><div class="review-item"><h5>Plot - 7/10</h5></div>'
            '<div class="review-summary"><div class="review-short-summary">Worth a look.</div>'
            '</div><div class="review-final-score"><h3>7.5/10</h3></div></div>',
            ReviewFacts(7.5, 10, "Worth a look.", has_box=True),
        ),
        # Lets Review
        (
            '<div class="lets-review-block__wrap"><div class="lets-review-block__conclusion">'
            '<div class="lets-review-block__conclusion__title">Conclusion</div>Bold and loud.'
            '</div><div class="lets-review-block__final-score"><span>8 out of 10</span></div>'
            "</div>",
            ReviewFacts(8, 10, "Bold and loud.", has_box=True),
        ),
    ],
    ids=["wp-review-percent", "wp-review-stars", "criteria-mean", "taqyeem", "lets-review"],
)
def test_plugin_boxes(markup: str, expected: ReviewFacts) -> None:
    assert facts(markup) == expected


def test_widgets_of_other_posts_never_give_the_score() -> None:
    markup = (
        '<section class="related-posts"><article class="post-card">'
        '<span class="review-total-box">9.5</span><p>Rating: 9/10</p></article></section>'
        "<p>Prose that calls the soundtrack a 10/10 on its own.</p>"
    )
    assert facts(markup) == ReviewFacts()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8/10", (8, 10)),
        ("8,5 / 10", (8.5, 10)),
        ("4/5 stars", (4, 5)),
        ("8.5 out of 10", (8.5, 10)),
        ("Rating - 7/10", (7, 10)),
        ("Final score: 4 out of 5 stars.", (4, 5)),
        ("Verdict – 3/5", (3, 5)),
        ("85%", (85, 100)),
        ("the insert alone is a 10/10", None),
        ("Episode 3/12 airs Friday", None),
        ("", None),
    ],
)
def test_parse_score(text: str, expected: tuple[float, float] | None) -> None:
    assert parse_score(text) == expected


@pytest.mark.parametrize(
    "markup",
    [
        "<h3>TL;DR</h3><p></p><p>Go see it.</p>",
        "<p><strong>TL;DR:</strong> Go see it.</p>",
        "<p>TLDR &#8212; Go see it.</p>",
        "<h4>Too long; didn&#8217;t read</h4><p>Go see it.</p>",
    ],
)
def test_tldr_labels(markup: str) -> None:
    assert facts(markup).tldr == "Go see it."
