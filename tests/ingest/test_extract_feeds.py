"""RSS 2.0 and Atom extraction over our own small fixtures (tests/fixtures/feeds/), pure."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime

import pytest

from newsletter.ingest import parse_source
from newsletter.ingest.records import Parsed, ReviewRecord, SourceError
from tests.helpers.env import FIXTURES

SITE = "https://critics.example.org/"
HOSTILE = ("<script", "</script", "alert(", "onerror", "<img", "javascript:")


def _parse(name: str, fmt: str = "rss", base_url: str | None = None) -> Parsed:
    path = FIXTURES / "feeds" / name
    parsed = parse_source(str(path), path.read_bytes(), fmt, SITE, base_url)
    assert isinstance(parsed, Parsed)
    return parsed


def _by_url(parsed: Parsed) -> dict[str, ReviewRecord]:
    return {r.url: r for r in parsed.records}


def _texts(record: ReviewRecord) -> list[str]:
    return [str(v) for v in asdict(record).values() if v is not None]


@pytest.fixture(scope="module")
def rss() -> dict[str, ReviewRecord]:
    parsed = _parse("critics.rss.xml")
    assert parsed.rejections == []
    return _by_url(parsed)


def test_rss_items_in_order_with_permalinks(rss: dict[str, ReviewRecord]) -> None:
    assert list(rss) == [
        # the ?p=123 guid (isPermaLink="false") is never the url
        "https://critics.example.org/review-the-glass-orchard/",
        # relative <link> resolved against the channel <link>
        "https://critics.example.org/review-rust-tide-ps5/",
        "https://critics.example.org/review-ink-widow-12/",
        "https://critics.example.org/review-moonlight-garden-1-2/",
        # no <link>: the permalink guid is the url
        "https://critics.example.org/review-paper-lanterns-3/",
        "https://critics.example.org/cafe-helene-sequel/",
        "https://critics.example.org/recap-night-shift-2-4/",
    ]


def test_rss_review_box_in_content_encoded(rss: dict[str, ReviewRecord]) -> None:
    orchard = rss["https://critics.example.org/review-the-glass-orchard/"]
    assert orchard.title == "REVIEW: ‘The Glass Orchard’ Blooms Late"
    assert orchard.author == "Mara Okafor"  # dc:creator
    assert orchard.published_at == datetime(2025, 11, 7, 15, 30, tzinfo=UTC)
    assert (orchard.score, orchard.score_max) == (7, 10)
    assert orchard.tldr == "Patient and pretty, if a little too long."  # label left out
    assert orchard.is_review
    # the description is the excerpt, without the "appeared first on" footer
    assert orchard.excerpt == "An orchard, a drought and two sisters."


def test_rss_first_category_mapping_to_a_section_wins(rss: dict[str, ReviewRecord]) -> None:
    categories = [r.category for r in rss.values()]
    # Reviews/Film/TV -> Film; Reviews/PS5/Film -> Video Games; Marvel Comics -> Comics;
    # K-Dramas -> TV; Anime; News/Video Games -> Video Games; Recaps/TV -> TV
    assert categories == ["Film", "Video Games", "Comics", "TV", "Anime", "Video Games", "TV"]


def test_rss_featured_images(rss: dict[str, ReviewRecord]) -> None:
    images = {url.rsplit("/", 2)[-2]: r.image_url for url, r in rss.items()}
    assert images["review-the-glass-orchard"] == (
        "https://img.critics.example.org/2025/11/glass-orchard.jpg"  # media:content
    )
    assert images["review-rust-tide-ps5"] == (
        "https://img.critics.example.org/2025/11/rust-tide.jpg"  # image enclosure
    )
    # an <img> in the body and an audio enclosure are not featured images
    assert images["review-paper-lanterns-3"] is None
    assert images["review-ink-widow-12"] is None


def test_rss_multi_criteria_box_uses_the_total(rss: dict[str, ReviewRecord]) -> None:
    tide = rss["https://critics.example.org/review-rust-tide-ps5/"]
    assert (tide.score, tide.score_max) == (7.5, 10)
    assert tide.tldr == "Gorgeous waters, clumsy hands."


def test_rss_cdata_title_entities_decoded(rss: dict[str, ReviewRecord]) -> None:
    # CDATA with &#8216; inside, and &amp;#8217; (escaped twice)
    tide = rss["https://critics.example.org/review-rust-tide-ps5/"]
    assert tide.title == "REVIEW: ‘Rust Tide’ Keeps the Sea’s Secrets"
    # outside CDATA: &amp;#8217; is an entity escaped for XML on top of HTML
    ink = rss["https://critics.example.org/review-ink-widow-12/"]
    assert ink.title == "REVIEW: Ink Widow’s Last Issue"


def test_rss_box_with_tldr_but_no_score(rss: dict[str, ReviewRecord]) -> None:
    ink = rss["https://critics.example.org/review-ink-widow-12/"]
    assert (ink.score, ink.score_max) == (None, None)
    assert ink.tldr == "A quiet goodbye that earns its ending."
    assert ink.is_review


def test_rss_item_without_content_encoded(rss: dict[str, ReviewRecord]) -> None:
    garden = rss["https://critics.example.org/review-moonlight-garden-1-2/"]
    # "Rating: 9/10" in the description is an excerpt, not a review box
    assert (garden.score, garden.score_max, garden.tldr) == (None, None, None)
    assert garden.is_review  # title starts with REVIEW
    assert garden.title == "REVIEW: ‘달빛 정원’ (Moonlight Garden) Episodes 1–2"


def test_rss_non_ascii_titles(rss: dict[str, ReviewRecord]) -> None:
    titles = {r.title for r in rss.values()}
    assert "REVIEW: 『紙灯籠』 Paper Lanterns, Episode 3" in titles
    assert "Café Hélène Studio Announces a Sequel" in titles


def test_rss_news_and_recap(rss: dict[str, ReviewRecord]) -> None:
    news = rss["https://critics.example.org/cafe-helene-sequel/"]
    assert (news.score, news.is_review) == (None, False)
    recap = rss["https://critics.example.org/recap-night-shift-2-4/"]
    assert (recap.score, recap.score_max, recap.is_review) == (6, 10, True)


def test_rss_text_scores_and_tldr_labels() -> None:
    heist, tactics, hearth = _parse("scores.rss.xml").records
    # labelled "Rating: 8/10" wins; the bare "10/10" in prose before it is not a score
    assert (heist.score, heist.score_max) == (8, 10)
    assert heist.tldr == "A sharp, funny caper with one act too many."  # "TL;DR: text"
    # <p><strong>8.5 out of 10</strong></p>; a TL;DR heading then its paragraph
    assert (tactics.score, tactics.score_max) == (8.5, 10)
    assert tactics.tldr == "Clever maps, thin story."
    assert tactics.category == "Video Games"  # Nintendo Switch
    # "4/5 stars" standing alone keeps its own scale
    assert (hearth.score, hearth.score_max, hearth.tldr) == (4, 5, None)
    assert hearth.title == "REVIEW: Hearth & Hollow"
    assert hearth.category == "Tabletop"


def test_rss_rejected_items_and_hostile_markup() -> None:
    parsed = _parse("rejects.rss.xml")
    assert [r.reason for r in parsed.rejections] == [
        "missing_link",  # no <link>, only a ?p= guid
        "invalid_date",
        "title_too_long",  # 400 characters
        "absurd_score",  # Rating: 15/10
    ]
    assert parsed.rejections[2].where == "https://critics.example.org/review-long-title/"
    (bloom,) = parsed.records
    assert bloom.url == "https://critics.example.org/review-static-bloom/"
    assert bloom.title == "REVIEW: Static Bloom"
    assert bloom.tldr == "Loud and lovely."
    assert bloom.author == "Ivo Marsh"
    for text in _texts(bloom):
        for bad in HOSTILE:
            assert bad not in text.lower()


def test_atom_entries() -> None:
    entries = _by_url(_parse("critics.atom.xml", "atom"))
    orbit = entries["https://critics.example.org/review-low-orbit/"]
    signal = entries["https://critics.example.org/review-deep-signal/"]
    # rel="alternate" is the url, not rel="replies" (listed first) nor a URL-like <id>
    assert list(entries)[:2] == [orbit.url, signal.url]
    # title type="html": escaped entities decoded (twice-escaped &amp;amp; too)
    assert orbit.title == "REVIEW: ‘Low Orbit’ Finds Its Footing & Its Heart"
    assert signal.title == "Ships & Shadows: “Deep Signal”"
    # <published> wins over a later <updated>; an entry with only <updated> uses it
    assert orbit.published_at == datetime(2025, 10, 2, 14, tzinfo=UTC)
    assert signal.published_at == datetime(2025, 9, 29, 1, 30, tzinfo=UTC)
    # escaped HTML content and xhtml content both hold the review box
    assert (orbit.score, orbit.score_max, orbit.tldr) == (8, 10, "Quiet, sad and “worth it”.")
    assert (signal.score, signal.score_max, signal.tldr) == (9, 10, "Dread, done right.")
    assert orbit.image_url == "https://img.critics.example.org/2025/10/low-orbit.jpg"
    assert signal.image_url is None
    assert (orbit.author, orbit.category) == ("Mara Okafor", "Film")
    assert (signal.author, signal.category) == ("Jonah Brandt", "Video Games")


def test_atom_entry_with_only_replies_link_and_url_id_is_rejected() -> None:
    parsed = _parse("critics.atom.xml", "atom")
    assert [r.reason for r in parsed.rejections] == ["missing_link"]
    assert "https://critics.example.org/review-comment-thread-only/" not in _by_url(parsed)


def test_truncated_feed_is_a_source_error() -> None:
    with pytest.raises(SourceError, match="malformed XML") as caught:
        _parse("truncated.rss.xml")
    assert caught.value.source.endswith("truncated.rss.xml")
    assert str(caught.value).startswith(f"{caught.value.source}: ")


def test_png_named_xml_is_not_a_feed() -> None:
    with pytest.raises(SourceError, match="not a feed: the file is a PNG image"):
        _parse("not-a-feed.xml")


def test_html_page_given_as_rss() -> None:
    with pytest.raises(SourceError, match="HTML"):
        _parse("homepage.html")


def test_empty_channel_is_zero_records() -> None:
    parsed = _parse("empty.rss.xml")
    assert (parsed.records, parsed.rejections) == ([], [])
