"""What the inbox list and the top of the digest say: subject, preheader, intro, card titles."""

from __future__ import annotations

from dataclasses import replace

import pytest

from newsletter.compose.colors import DARK_SURFACE, LIGHT_SURFACE, contrast, legible_on
from newsletter.compose.content import (
    PREHEADER_LIMIT,
    SUBJECT_LIMIT,
    clean_title,
    default_intro,
    default_subject,
    fit_intro,
    trim_words,
)
from newsletter.compose.render import render_variant
from newsletter.sections import mask_of
from tests.helpers.content import BRAND, CONTENT, card

LONG = "‘Hollow Circuit’ Is The Best Metroidvania Of The Decade, And Then Some More"


@pytest.mark.parametrize(
    ("title", "cleaned"),
    [
        ("REVIEW: Dune", "Dune"),
        ("Recap – Frieren, episode 3", "Frieren, episode 3"),
        ("review:   Heat ", "Heat"),
        ("Reviewing the reviewers", "Reviewing the reviewers"),
        ("REVIEW:", "REVIEW:"),  # nothing left: keep what the site wrote
    ],
)
def test_clean_title_drops_only_the_sites_prefix(title: str, cleaned: str) -> None:
    assert clean_title(title) == cleaned


def test_trim_words_cuts_at_a_word_boundary_with_an_ellipsis() -> None:
    assert trim_words("one two three", 20) == "one two three"
    assert trim_words("one two three", 10) == "one two…"
    assert trim_words("one two, three", 10) == "one two…"  # no dangling comma
    assert trim_words("abcdefghijkl", 6) == "abcde…"  # one long word: cut inside it
    for limit in range(5, 40):
        assert len(trim_words(LONG, limit)) <= limit


def test_subject_leads_with_the_lead_title_and_fits_a_phone() -> None:
    assert default_subject("Reviews Weekly", ["REVIEW: Dune"], 1) == "Dune"
    assert default_subject("Reviews Weekly", ["REVIEW: Dune", "x"], 5) == "Dune + 4 more"
    long = default_subject("Reviews Weekly", [f"REVIEW: {LONG}"], 17)
    assert long == "‘Hollow Circuit’ Is The Best Metroidvania Of The… + 16 more"
    assert len(long) <= SUBJECT_LIMIT
    alone = default_subject("Reviews Weekly", [LONG], 1)
    assert alone.endswith("…") and len(alone) <= SUBJECT_LIMIT and "more" not in alone
    word = default_subject("S", ["X" * 80], 3)  # a title that cannot be cut at a space
    assert len(word) <= SUBJECT_LIMIT
    assert default_subject("Reviews Weekly", [], 0) == "Reviews Weekly"


def test_preheader_is_the_lead_reviews_tldr_else_the_counts_and_the_editors_wins() -> None:
    tldr = "A long and winding sentence about the film " * 5
    content = replace(CONTENT, new=[card(1, "Film", tldr=tldr), *CONTENT.new[1:]])
    shown = content.resolved("Reviews Weekly").preheader
    assert shown is not None and shown.endswith("…") and len(shown) <= PREHEADER_LIMIT
    assert shown.startswith("A long and winding sentence about the film A long")
    bare = replace(CONTENT, new=[card(1, "Film", tldr=None)], trending=[])
    assert bare.resolved("x").preheader == "1 new review, each with a TL;DR and a score."
    edited = replace(content, preheader="Our picks")
    assert edited.resolved("x").preheader == "Our picks"


def test_an_automatic_intro_promises_only_the_sections_a_variant_has() -> None:
    whole = replace(CONTENT, intro=default_intro(3, 1))
    assert "could not stop clicking" in whole.intro
    film = whole.for_mask(mask_of(["Film"])).resolved("x")
    assert film.trending == [] and "clicking" not in film.intro
    html = render_variant(whole, mask_of(["Film"]), BRAND).html
    assert "clicking" not in html
    assert "could not stop clicking" in render_variant(whole, 0, BRAND).html
    trending_only = whole.for_mask(mask_of(["TV"])).resolved("x")
    assert trending_only.intro == default_intro(0, 1)
    assert fit_intro("Our own words, trending or not.", 1, 0) == "Our own words, trending or not."


def test_card_titles_lose_the_prefix_in_both_parts() -> None:
    variant = render_variant(CONTENT, 0, BRAND)
    assert "REVIEW:" not in variant.html and "REVIEW:" not in variant.text
    assert "Thing 1" in variant.html and "Thing 1" in variant.text


@pytest.mark.parametrize("accent", ["#c2255c", "#ffcc00", "#1b6ec2", "#000000", "#ffffff"])
def test_the_accent_as_text_reaches_aa_on_both_surfaces(accent: str) -> None:
    assert contrast(legible_on(accent, LIGHT_SURFACE), LIGHT_SURFACE) >= 4.5
    assert contrast(legible_on(accent, DARK_SURFACE), DARK_SURFACE) >= 4.5
    assert legible_on("#c2255c", LIGHT_SURFACE) == "#c2255c"  # passing colours stay as they are
