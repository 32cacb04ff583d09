"""One hostile or broken source fails alone, in one line, and stores nothing; the rest land.

Deeply nested JSON (a RecursionError in the decoder), NUL bytes and lone surrogates in text
(PostgreSQL cannot store a NUL in ``text``; no database can encode a lone surrogate), a web
server's error page where a feed was expected, a source whose every item is refused, and a
failure nobody foresaw, on the configured database (SQLite, and PostgreSQL in CI).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.ingest import ReviewRecord, ingest_sources
from newsletter.ingest.store import StoreCounts
from newsletter.models import Review
from tests.helpers.httpsite import Answer, Site, static

SITE = "https://reviews.example.com/"
DEEP = 100_000  # far past Python's recursion limit
BAD_GATEWAY = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


def row(slug: str, **fields: object) -> dict[str, object]:
    return {
        "url": f"{SITE}{slug}/",
        "title": f"REVIEW: {slug.title()}",
        "published_at": "2026-11-20T10:00:00Z",
        **fields,
    }


def jsonl(path: Path, *rows: dict[str, object]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def deep_page(path: Path) -> str:
    """A review page whose first JSON-LD block nests arrays 100,000 deep."""
    ld = {"@type": "Review", "name": "Deep Review", "datePublished": "2026-11-20T10:00:00Z"}
    path.write_text(
        "<!doctype html><html><head>"
        f'<link rel="canonical" href="{SITE}deep-page/">'
        f'<script type="application/ld+json">{"[" * DEEP}{"]" * DEEP}</script>'
        f'<script type="application/ld+json">{json.dumps(ld)}</script>'
        "</head><body><article><h1>Deep Review</h1></article></body></html>",
        encoding="utf-8",
    )
    return str(path)


def stored(factory: sessionmaker[Session]) -> dict[str, Review]:
    with factory() as session:
        return {r.url: r for r in session.scalars(select(Review))}


@pytest.fixture
def site() -> Iterator[Site]:
    server = Site().start()
    yield server
    server.stop()


def test_each_hostile_source_fails_alone_and_the_others_land(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    nested = tmp_path / "nested.json"
    nested.write_text("[" * DEEP + "]" * DEEP, encoding="utf-8")
    gateway = tmp_path / "feed.html"
    gateway.write_bytes(BAD_GATEWAY)
    nul = jsonl(
        tmp_path / "nul.jsonl",
        row(
            "nul",
            title="REVIEW: A\u0000B",
            author="Ana\u0000 Ruiz",
            tldr="Good\u0000.",
            excerpt="Tiny\u0000 \ud800text",
            category="Film\u0000",
        ),
    )
    good = jsonl(tmp_path / "good.jsonl", row("good"))
    sources = [str(nested), deep_page(tmp_path / "deep.html"), str(gateway), nul, good]
    reports = ingest_sources(factory, sources, SITE)
    assert [r.error for r in reports] == [
        f"{nested}: unusable JSON: nested too deeply",
        None,  # the nested block is skipped like any broken one; the page still reads
        f"{gateway}: not a feed or review page: HTTP 502 page '502 Bad Gateway'",
        None,
        None,
    ]
    assert [r.exit_code for r in reports] == [1, 0, 1, 0, 0]
    reviews = stored(factory)
    assert sorted(reviews) == [f"{SITE}deep-page/", f"{SITE}good/", f"{SITE}nul/"]
    cleaned = reviews[f"{SITE}nul/"]
    assert (cleaned.title, cleaned.author, cleaned.tldr) == ("REVIEW: AB", "Ana Ruiz", "Good.")
    assert (cleaned.excerpt, cleaned.category) == ("Tiny text", "Film")


def test_a_deeply_nested_line_is_one_rejection_of_its_export(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    path = tmp_path / "export.jsonl"
    path.write_text(
        json.dumps(row("first"))
        + "\n"
        + '{"url": '
        + "[" * DEEP
        + "]" * DEEP
        + "}\n"
        + json.dumps(row("third", title=["an", "array"]))
        + "\n"
        + json.dumps(row("fourth", url=f"{SITE}four\u0000th/"))
        + "\n",
        encoding="utf-8",
    )
    (report,) = ingest_sources(factory, [str(path)], SITE)
    assert (report.error, report.counts.new) == (None, 1)
    assert [str(r) for r in report.rejections] == [
        "line 2: invalid_json (nested too deeply)",
        "line 3: invalid_field (title is an array, not a value)",
        "line 4: missing_link (no usable permalink)",  # a NUL in a URL is refused, not mended
    ]


def test_an_error_page_served_as_the_feed_says_what_it_is(
    factory: sessionmaker[Session], site: Site
) -> None:
    site.routes["/feed/"] = static(BAD_GATEWAY, "application/rss+xml")
    site.routes["/page/"] = static(BAD_GATEWAY, "text/html")
    site.routes["/api/"] = lambda _r: Answer(200, {"Content-Type": "application/json"}, BAD_GATEWAY)
    urls = [f"{site.url}/feed/", f"{site.url}/page/", f"{site.url}/api/"]
    reports = ingest_sources(factory, urls, SITE)
    assert [r.error for r in reports] == [
        f"{url}: not a feed or review page: HTTP 502 page '502 Bad Gateway'" for url in urls
    ]
    assert stored(factory) == {}


def test_a_source_whose_every_item_is_refused_fails(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    refused = jsonl(tmp_path / "refused.jsonl", row("a", url=""), row("b", score=42))
    (report,) = ingest_sources(factory, [refused], SITE)
    assert report.error == f"{refused}: nothing usable: all 2 rejected"
    assert report.exit_code == 1
    assert [r.reason for r in report.rejections] == ["missing_link", "absurd_score"]


def test_an_unforeseen_failure_rolls_its_source_back_and_the_next_lands(
    factory: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever escapes a parser or the database fails that source alone (here a failure is
    injected after the first record of the source was written)."""
    from newsletter.ingest import runner, store

    real = store.store_reviews

    def fails_midway(session: Session, records: list[ReviewRecord], source: str) -> StoreCounts:
        if source.endswith("bad.jsonl"):
            real(session, records[:1], source=source)
            raise RuntimeError("boom\nsecond line")
        return real(session, records, source=source)

    monkeypatch.setattr(runner, "store_reviews", fails_midway)
    bad = jsonl(tmp_path / "bad.jsonl", row("bad-1"), row("bad-2"))
    good = jsonl(tmp_path / "good.jsonl", row("good"))
    first, second = ingest_sources(factory, [bad, good], SITE)
    assert first.error == f"{bad}: failed: RuntimeError: boom"
    assert (first.exit_code, first.counts.new) == (1, 0)
    assert (second.error, second.counts.new) == (None, 1)
    assert sorted(stored(factory)) == [f"{SITE}good/"]  # nothing of bad.jsonl half-written


def test_the_command_line_prints_one_line_per_failed_source_and_exits_1(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    nested = tmp_path / "nested.json"
    nested.write_text("[" * DEEP + "]" * DEEP, encoding="utf-8")
    gateway = tmp_path / "gateway.html"
    gateway.write_bytes(BAD_GATEWAY)
    good = jsonl(tmp_path / "good.jsonl", row("good", title="REVIEW: \u0000Fine"))
    result = cli("ingest", str(nested), str(gateway), good)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: {nested}: unusable JSON: nested too deeply",
        f"error: {gateway}: not a feed or review page: HTTP 502 page '502 Bad Gateway'",
    ]
    assert f"{good} (jsonl): 1 new, 0 updated, 0 unchanged, 0 rejected" in result.stdout
    assert cli("ingest", good).exit_code == 0
