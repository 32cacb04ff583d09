"""Property tests over the page and feed extractors: any input gives records, rejections or a
clear source error, never another exception (issue 13). Pure; examples kept few for CI time."""

from __future__ import annotations

import json
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.ingest.feeds import parse_feed
from newsletter.ingest.html import byline, parse_fragment
from newsletter.ingest.pages import parse_page
from newsletter.ingest.records import Parsed, SourceError
from newsletter.ingest.reviewbox import ReviewFacts, review_facts
from newsletter.ingest.scoretext import parse_score, prose_verdict

FAST = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)

# Pieces real pages and feeds are made of, so that the examples reach the extraction rules
# rather than stopping at "not HTML at all".
_WORDS = st.sampled_from(
    [
        "Verdict:",
        "Rating",
        "Final score",
        "Overall",
        "TL;DR",
        "8/10",
        "4 out of 5",
        "★★★★☆",
        "☆",
        "85%",
        "9/11",
        "1e309",
        "NaN",
        "-3",
        "999/0",
        "&amp;",
        "&#0;",
        "jane@example.com (Jane)",
        "\x00",
        "\u202e",
        "<",
        ">",
        '"',
    ]
)
_TEXT = st.one_of(st.text(max_size=40), st.lists(_WORDS, max_size=6).map(" ".join))
# mostly usable, so that most examples get as far as a record
_URL = st.one_of(st.just("https://critics.example.org/review-x/"), _TEXT)
_DATE = st.one_of(st.sampled_from(["2025-11-04T15:00:00Z", "Tue, 04 Nov 2025 15:00:00 GMT"]), _TEXT)
_TITLE = st.one_of(st.just("REVIEW: X"), _TEXT)
_TAGS = st.sampled_from(["div", "p", "span", "h3", "li", "td", "dd", "a", "article", "script"])
_ATTRS = st.sampled_from(
    ["class", "id", "data-score", "data-rating", "data-max", "data-best", "itemprop", "href"]
)
_ATTR_VALUES = st.one_of(
    _TEXT, st.sampled_from(["review-total-box", "final-score", "user-rating", "8.5", "0", "1e9"])
)


@st.composite
def _element(draw: st.DrawFn, depth: int = 0) -> str:
    tag = draw(_TAGS)
    attrs = draw(st.dictionaries(_ATTRS, _ATTR_VALUES, max_size=3))
    rendered = "".join(f' {k}="{v}"' for k, v in attrs.items())
    children = draw(st.lists(_element(depth + 1), max_size=3)) if depth < 3 else []
    return f"<{tag}{rendered}>{draw(_TEXT)}{''.join(children)}</{tag}>"


_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.floats(), st.integers(), _TEXT),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(["@type", "@graph", "reviewRating", "ratingValue", "bestRating"])
            | st.sampled_from(["author", "name", "datePublished", "headline", "image", "@id"]),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=12,
)


@st.composite
def _page(draw: st.DrawFn) -> bytes:
    ld = json.dumps(draw(_JSON))
    body = "".join(draw(st.lists(_element(), max_size=4)))
    head = (
        f'<link rel="canonical" href="{draw(_URL)}"><title>{draw(_TITLE)}</title>'
        f'<meta property="article:published_time" content="{draw(_DATE)}">'
    )
    html = (
        f'<html><head>{head}<script type="application/ld+json">{ld}</script></head>'
        f"<body>{body}</body></html>"
    )
    encoding = draw(st.sampled_from(["utf-8", "latin-1", "utf-16"]))
    return html.encode(encoding, errors="replace")


@st.composite
def _feed(draw: st.DrawFn) -> bytes:
    def text(values: st.SearchStrategy[str] = _TEXT) -> str:
        value = draw(values)
        return value if draw(st.booleans()) else f"<![CDATA[{value}]]>"

    item = (
        f"<item><title>{text(_TITLE)}</title><link>{text(_URL)}</link><author>{text()}</author>"
        f"<pubDate>{text(_DATE)}</pubDate><category>{text()}</category>"
        f"<content:encoded><![CDATA[{''.join(draw(st.lists(_element(), max_size=2)))}]]>"
        "</content:encoded></item>"
    )
    cut = draw(st.booleans())
    doc = (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        f"<link>https://critics.example.org/</link>{item * draw(st.integers(1, 3))}"
        "</channel></rss>"
    )
    return doc.encode("utf-8", errors="replace")[: len(doc) // 2 if cut else None]


def _outcome(parse: Callable[[bytes, str], Parsed], data: bytes) -> None:
    error: SourceError | None = None
    try:
        parsed = parse(data, "input")
    except SourceError as exc:
        error = exc
    if error is not None:
        assert error.reason
        assert "\n" not in error.reason  # one clear line
        return
    assert isinstance(parsed, Parsed)
    for record in parsed.records:
        if record.score is not None:
            assert record.score_max is not None
            assert 0 <= record.score <= record.score_max <= 100


@FAST
@given(st.one_of(st.binary(max_size=300), _page()))
def test_any_page_gives_a_result_or_a_source_error(data: bytes) -> None:
    _outcome(parse_page, data)


@FAST
@given(st.one_of(st.binary(max_size=300), st.text(max_size=200).map(str.encode), _feed()))
def test_any_feed_gives_a_result_or_a_source_error(data: bytes) -> None:
    _outcome(parse_feed, data)


@FAST
@given(st.one_of(st.text(max_size=200), st.lists(_element(), max_size=4).map("".join)))
def test_any_fragment_gives_review_facts(markup: str) -> None:
    found = review_facts(parse_fragment(markup))
    assert isinstance(found, ReviewFacts)
    assert (found.score is None) == (found.score_max is None)


@FAST
@given(_TEXT)
def test_score_text_never_raises(text: str) -> None:
    score = parse_score(text)
    assert score is None or all(isinstance(n, float) for n in score)
    verdict = prose_verdict(text)
    assert verdict is None or 0 <= verdict[0] <= verdict[1] <= 100


@FAST
@given(
    st.one_of(st.none(), _TEXT),
    st.from_regex(r"[a-z0-9.]{1,12}@[a-z0-9]{1,8}\.[a-z]{2,4}", fullmatch=True),
)
def test_byline_never_shows_an_address(raw: str | None, address: str) -> None:
    for field in (raw, f"{address} ({raw or ''})", f"{raw or ''} <{address}>", address):
        name = byline(field)
        assert name is None or (name.strip() == name and name)
        assert address not in (name or "")


# What the properties above found, kept as plain examples.


def test_control_characters_do_not_stop_a_fragment_or_a_page() -> None:
    # libxml2 refuses C0 controls in a tree; lxml raised ValueError from parse_fragment
    assert review_facts(parse_fragment("Rating: 8/10\x1b")).score == 8
    assert review_facts(parse_fragment("\x00<p>Rating: 8/10</p>")).score == 8
    page = (
        "<html><head><link rel='canonical' href='https://critics.example.org/review-y/'>"
        "<meta property='article:published_time' content='2025-11-04T15:00:00Z'></head>"
        f"<body><article><h1>REVIEW: Y\x0b</h1><p>{'x' * 5000}\x00</p></article></body></html>"
    ).encode()
    (record,) = parse_page(page, "y.html").records
    assert record.title == "REVIEW: Y"


def test_an_empty_pub_date_is_a_rejection_not_a_warning() -> None:
    # feedparser's get("updated") falls back to an empty "published" with a DeprecationWarning
    feed = (
        b'<rss version="2.0"><channel><item><title>T</title>'
        b"<link>https://critics.example.org/t/</link><pubDate></pubDate></item></channel></rss>"
    )
    parsed = parse_feed(feed, "feed.xml")
    assert [r.reason for r in parsed.rejections] == ["invalid_date"]
