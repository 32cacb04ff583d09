"""URL sources against a real HTTP server on loopback: the fetcher and ingest over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.ingest import Fetcher, FetchPolicy, SourceError, Validators, ingest_sources
from newsletter.models import FetchState, Review
from tests.helpers.documents import SITE, rss, wp_post
from tests.helpers.httpsite import Answer, Request, Site, static

MODIFIED = "Wed, 18 Nov 2026 10:00:00 GMT"


@pytest.fixture
def site() -> Iterator[Site]:
    server = Site().start()
    yield server
    server.stop()


@pytest.fixture
def delays() -> list[float]:
    return []


@pytest.fixture
def fetcher(delays: list[float]) -> Iterator[Fetcher]:
    policy = FetchPolicy(timeout=0.5, max_bytes=64 * 1024, attempts=3, backoff=0.01)
    with Fetcher(policy, sleep=delays.append) as client:
        yield client


def _count(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(Review)) or 0


def test_200_then_304_with_etag_costs_no_body(
    site: Site, fetcher: Fetcher, factory: sessionmaker[Session]
) -> None:
    site.routes["/feed/"] = static(rss("a", "b"), "application/rss+xml", etag='"v1"')
    url = f"{site.url}/feed/"
    first = ingest_sources(factory, [url], SITE, fetcher=fetcher)[0]
    assert (first.format, first.counts.new, first.error) == ("rss", 2, None)
    second = ingest_sources(factory, [url], SITE, fetcher=fetcher)[0]
    assert (second.not_modified, second.format) == (True, "rss")
    assert (second.counts.new, second.counts.updated, second.counts.unchanged) == (0, 0, 2)
    assert site.requests[-1].headers["if-none-match"] == '"v1"'
    assert "newsletter-digest/" in site.requests[-1].headers["user-agent"]
    with factory() as session:
        state = session.get(FetchState, url)
        assert state is not None
        assert (state.etag, state.records) == ('"v1"', 2)


def test_last_modified_alone_is_sent_back(site: Site, fetcher: Fetcher) -> None:
    site.routes["/feed/"] = static(rss("a"), "application/rss+xml", modified=MODIFIED)
    first = fetcher.get(f"{site.url}/feed/")
    assert first.validators == Validators(None, MODIFIED)
    again = fetcher.get(f"{site.url}/feed/", first.validators)
    assert again.not_modified
    assert site.requests[-1].headers["if-modified-since"] == MODIFIED


def test_a_changed_feed_updates_in_place(
    site: Site, fetcher: Fetcher, factory: sessionmaker[Session]
) -> None:
    site.routes["/feed/"] = static(rss("a"), "application/rss+xml", etag='"v1"')
    ingest_sources(factory, [f"{site.url}/feed/"], SITE, fetcher=fetcher)
    site.routes["/feed/"] = static(rss("a", "b"), "application/rss+xml", etag='"v2"')
    report = ingest_sources(factory, [f"{site.url}/feed/"], SITE, fetcher=fetcher)[0]
    assert (report.counts.new, report.counts.unchanged, report.not_modified) == (1, 1, False)


def test_301_is_followed_and_noted(
    site: Site, fetcher: Fetcher, factory: sessionmaker[Session]
) -> None:
    site.routes["/feed/"] = static(rss("a"), "application/rss+xml")
    site.routes["/old-feed"] = lambda _r: Answer(301, {"Location": "/feed/"})
    report = ingest_sources(factory, [f"{site.url}/old-feed"], SITE, fetcher=fetcher)[0]
    assert (report.error, report.counts.new) == (None, 1)
    assert report.notes == [f"moved permanently to {site.url}/feed/; update the source"]


def test_redirect_loop_is_a_source_error(site: Site, fetcher: Fetcher) -> None:
    site.routes["/loop"] = lambda _r: Answer(302, {"Location": "/loop"})
    with pytest.raises(SourceError, match="more than 5 redirects"):
        fetcher.get(f"{site.url}/loop")


def test_404_fails_at_once_and_other_sources_still_land(
    site: Site, fetcher: Fetcher, factory: sessionmaker[Session], delays: list[float]
) -> None:
    site.routes["/feed/"] = static(rss("a"), "application/rss+xml")
    missing, good = ingest_sources(
        factory, [f"{site.url}/gone.xml", f"{site.url}/feed/"], SITE, fetcher=fetcher
    )
    assert missing.error == f"{site.url}/gone.xml: HTTP 404 Not Found"
    assert missing.exit_code == 1
    assert len(site.hits("/gone.xml")) == 1  # a 404 is not retried
    assert delays == []
    assert (good.error, good.counts.new) == (None, 1)


def test_500_then_success_is_retried_with_backoff(
    site: Site, fetcher: Fetcher, delays: list[float]
) -> None:
    answers = iter([Answer(500), Answer(503, {"Retry-After": "0"})])

    def flaky(_request: Request) -> Answer:
        return next(answers, Answer(200, {"Content-Type": "application/rss+xml"}, rss("a")))

    site.routes["/feed/"] = flaky
    fetched = fetcher.get(f"{site.url}/feed/")
    assert fetched.status == 200
    assert len(site.hits("/feed/")) == 3
    assert delays == [0.01, 0.02]


def test_persistent_500_gives_up_and_stores_nothing(
    site: Site, fetcher: Fetcher, factory: sessionmaker[Session]
) -> None:
    site.routes["/feed/"] = lambda _r: Answer(502)
    report = ingest_sources(factory, [f"{site.url}/feed/"], SITE, fetcher=fetcher)[0]
    assert report.error == f"{site.url}/feed/: HTTP 502 Bad Gateway (gave up after 3 attempts)"
    assert _count(factory) == 0


def test_slow_response_past_the_timeout(site: Site, fetcher: Fetcher) -> None:
    site.routes["/slow"] = lambda _r: Answer(200, body=b"<rss/>", delay=1.0)
    with pytest.raises(SourceError, match=r"timed out \(ReadTimeout, limit 0.5 s\)"):
        fetcher.get(f"{site.url}/slow")


def test_oversized_body_is_refused_declared_or_streamed(site: Site, fetcher: Fetcher) -> None:
    big = b"<rss>" + b" " * 70_000
    site.routes["/declared"] = lambda _r: Answer(200, {"Content-Type": "text/xml"}, big)
    site.routes["/streamed"] = lambda _r: Answer(
        200, {"Content-Type": "text/xml"}, chunks=iter([b"x" * 16_384] * 8)
    )
    with pytest.raises(SourceError, match="over the 65536-byte limit"):
        fetcher.get(f"{site.url}/declared")
    with pytest.raises(SourceError, match="over the 65536-byte limit; stopped reading"):
        fetcher.get(f"{site.url}/streamed")


def test_connection_refused_is_retried_then_reported(fetcher: Fetcher, delays: list[float]) -> None:
    with pytest.raises(SourceError, match=r"connection failed .*gave up after 3 attempts"):
        fetcher.get("http://127.0.0.1:9/feed/")
    assert len(delays) == 2


def test_wordpress_paging_follows_total_pages(
    site: Site, fetcher: Fetcher, factory: sessionmaker[Session]
) -> None:
    pages = {"1": [wp_post(1), wp_post(2)], "2": [wp_post(3), wp_post(4)], "3": [wp_post(5)]}

    def api(request: Request) -> Answer:
        number = dict(
            p.split("=", 1) for p in request.path.partition("?")[2].split("&") if "=" in p
        ).get("page", "1")
        headers = {
            "Content-Type": "application/json",
            "X-WP-TotalPages": "3",
            "ETag": f'"p{number}"',
        }
        if request.headers.get("if-none-match") == f'"p{number}"':
            return Answer(304, headers)
        return Answer(200, headers, json.dumps(pages[number]).encode())

    site.routes["/wp-json/wp/v2/posts"] = api
    url = f"{site.url}/wp-json/wp/v2/posts?_embed&per_page=2"
    report = ingest_sources(factory, [url], SITE, fetcher=fetcher)[0]
    assert (report.format, report.counts.new, report.error) == ("wp-json", 5, None)
    assert [r.path.rpartition("page=")[2] for r in site.hits("/wp-json/wp/v2/posts")][1:] == [
        "2",
        "3",
    ]
    with factory() as session:
        tldrs = set(session.scalars(select(Review.tldr)))
    assert tldrs == {"Worth it."}
    again = ingest_sources(factory, [url], SITE, fetcher=fetcher)[0]
    assert (again.not_modified, again.counts.unchanged, again.counts.new) == (True, 5, 0)


def test_a_page_fetched_by_url_uses_the_final_url_without_tracking(
    site: Site, fetcher: Fetcher, factory: sessionmaker[Session]
) -> None:
    page = (
        b"<html><head><title>REVIEW: Lanterns | Critics</title>"
        b'<meta property="article:published_time" content="2026-11-20T09:00:00-05:00">'
        b"</head><body><article class='hentry'><h1>REVIEW: Lanterns</h1>"
        b"<p>TL;DR: Bright.</p><p>Rating: 4/5</p></article></body></html>"
    )
    site.routes["/review-lanterns/"] = lambda _r: Answer(200, {"Content-Type": "text/html"}, page)
    url = f"{site.url}/review-lanterns/?utm_source=news&utm_medium=email"
    report = ingest_sources(factory, [url], SITE, fetcher=fetcher)[0]
    assert (report.format, report.counts.new) == ("page", 1)
    with factory() as session:
        review = session.scalars(select(Review)).one()
    assert review.url == f"{site.url}/review-lanterns/"
    assert (review.title, review.score, review.score_max, review.tldr) == (
        "REVIEW: Lanterns",
        4,
        5,
        "Bright.",
    )


def test_failed_source_keeps_the_old_validators(
    site: Site, fetcher: Fetcher, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    site.routes["/feed/"] = static(rss("a"), "application/rss+xml", etag='"v1"')
    url = f"{site.url}/feed/"
    ingest_sources(factory, [url], SITE, fetcher=fetcher)
    cut = rss("a", "b")[:-40]  # truncated mid-document
    site.routes["/feed/"] = static(cut, "application/rss+xml", etag='"v2"')
    report = ingest_sources(factory, [url], SITE, fetcher=fetcher)[0]
    assert report.error is not None and "malformed XML" in report.error
    assert _count(factory) == 1
    with factory() as session:
        state = session.get(FetchState, url)
        assert state is not None and state.etag == '"v1"'
