"""RSS 2.0 and Atom feeds (feedparser) into review records.

Per item: the permalink (RSS ``<link>``, a permalink ``<guid>``, Atom ``rel="alternate"``;
never a ``?p=123`` guid or an Atom ``<id>``), the title as plain text, ``dc:creator``/author,
the first category that maps onto a section (tags mixed in with categories are skipped by
that), the first-publication time (never ``<updated>`` when ``<published>`` exists), the
featured image (``media:content``, an image enclosure), and the score and TL;DR from the
review box inside ``content:encoded`` / Atom content. The description is an excerpt, not a
TL;DR. A truncated document is a source error: nothing from it is stored.
"""

from __future__ import annotations

import re
import time
from calendar import timegm
from datetime import UTC, datetime
from typing import Any

import feedparser

from newsletter.ingest.html import binary_kind, byline, parse_fragment
from newsletter.ingest.normalize import ItemRejected, make_record, parse_timestamp, plain_text
from newsletter.ingest.records import Parsed, Rejection, SourceError
from newsletter.ingest.reviewbox import review_facts
from newsletter.ingest.urls import canonical_url, is_permalink
from newsletter.sections import section_of

_CLOSING = re.compile(rb"</(?:[A-Za-z0-9_]+:)?(?:rss|feed|RDF)>\s*(?:<!--.*?-->\s*)*$", re.S)
_APPEARED_FIRST = re.compile(r"\s*The post .{1,600}? appeared first on .{1,200}?\.?\s*$", re.S)
_IMAGE_EXT = re.compile(r"\.(?:jpe?g|png|gif|webp|avif)(?:$|\?)", re.I)


def _not_a_feed(source: str, data: bytes) -> SourceError:
    kind = binary_kind(data)
    if kind:
        head = data[:4].decode("latin-1").encode("unicode_escape").decode("ascii")
        return SourceError(source, f"not a feed: the file is {kind} (starts with {head}), not XML")
    start = data[:512].lstrip().lower()
    if start.startswith((b"{", b"[")):
        return SourceError(source, "not a feed: it is JSON (is its format wp-json?)")
    if start.startswith((b"<!doctype html", b"<html")):
        return SourceError(source, "not a feed: it is an HTML page (is its format page?)")
    return SourceError(source, "not a feed: no RSS or Atom document found")


def _xml_error(exc: object) -> str:
    """An expat error as "line 174: no element found" (its own text names no file)."""
    line = getattr(exc, "getLineNumber", None)
    message = getattr(exc, "getMessage", None)
    if callable(line) and callable(message):
        return f"line {line()}: {message()}"
    return str(exc or "not well-formed")


def _published(entry: Any) -> Any:
    """The first-publication time: ``published`` (RSS pubDate, Atom published), then the
    Dublin Core date, and ``updated`` only when the entry has nothing else."""
    for raw, parsed in (("published", "published_parsed"), ("created", "created_parsed")):
        if entry.get(raw):
            return _timestamp(entry.get(raw), entry.get(parsed))
    # dict.get: feedparser's own get() maps a missing ``updated`` to ``published`` (with a
    # DeprecationWarning) when ``published`` is present but empty
    updated = dict.get(entry, "updated")
    if updated:
        return _timestamp(str(updated), dict.get(entry, "updated_parsed"))
    return None


def _timestamp(raw: str, parsed: time.struct_time | None) -> Any:
    try:
        return parse_timestamp(raw)
    except ValueError:
        if parsed:  # feedparser knows more date dialects than ISO 8601 and RFC 822
            return datetime.fromtimestamp(timegm(parsed), UTC)
        return raw  # make_record rejects it with the reason


def _link(entry: Any, base: str | None, atom: bool) -> str:
    """The permalink. feedparser copies an ``<id>``/``<guid>`` into ``entry.link`` when there
    is no link; that is right for an RSS permalink guid and wrong for an Atom ``<id>``
    (RFC 4287 4.2.6: an identifier, not a location), so ``entry.link`` is not read."""
    candidates = [
        link.get("href")
        for link in entry.get("links", [])
        if link.get("rel", "alternate") == "alternate" and link.get("href")
    ]
    if not atom and entry.get("guidislink") and entry.get("id"):
        candidates.append(entry.get("id"))
    for href in candidates:
        url = canonical_url(str(href), base)
        if url and is_permalink(url):
            return url
    return ""


def _image(entry: Any, base: str | None) -> str | None:
    found: list[str] = []
    for media in entry.get("media_content", []):
        kind = str(media.get("medium") or media.get("type") or "")
        if kind.startswith("image") or (not kind and _IMAGE_EXT.search(media.get("url", ""))):
            found.append(media.get("url", ""))
    for enclosure in [*entry.get("enclosures", []), *entry.get("links", [])]:
        if enclosure.get("rel", "enclosure") == "enclosure" and str(
            enclosure.get("type", "")
        ).startswith("image"):
            found.append(enclosure.get("href") or enclosure.get("url") or "")
    for thumb in entry.get("media_thumbnail", []):
        found.append(thumb.get("url", ""))
    for url in found:
        absolute = canonical_url(url, base) if url else ""
        if absolute:
            return absolute
    return None


def _content(entry: Any) -> str | None:
    """The full body (``content:encoded``, Atom content); never the summary/description."""
    for content in entry.get("content", []):
        if content.get("value"):
            return str(content["value"])
    return None


def _excerpt(entry: Any) -> str | None:
    text = plain_text(entry.get("summary"))
    if not text:
        return None
    return _APPEARED_FIRST.sub("", text).strip() or None


def parse_feed(data: bytes, source: str, base_url: str | None = None) -> Parsed:
    """Parse RSS 2.0, RSS 1.0 or Atom bytes. ``base_url`` is where the feed was fetched from."""
    # feedparser takes the base for relative links from Content-Location; without a type it
    # would flag the document as "no Content-type specified".
    headers = (
        {"content-location": base_url, "content-type": "application/xml"} if base_url else None
    )
    # We store text and resolve the links we keep ourselves, so feedparser need not sanitize
    # or rewrite every body (a third of its time on a WordPress feed).
    feed = feedparser.parse(
        data, response_headers=headers, sanitize_html=False, resolve_relative_uris=False
    )
    version = str(feed.get("version") or "")
    if not version and not feed.entries:
        raise _not_a_feed(source, data)
    fmt = "atom" if version.startswith("atom") else "rss"
    parsed = Parsed(source, fmt)
    benign = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)
    if feed.get("bozo") and not isinstance(feed.get("bozo_exception"), benign):
        reason = _xml_error(feed.get("bozo_exception"))
        if not _CLOSING.search(data.rstrip()):
            raise SourceError(
                source, f"malformed XML: the document ends before its closing tag ({reason})"
            )
        parsed.notes.append(f"not well-formed XML ({reason}); read leniently")
    base = base_url or canonical_url(str(feed.feed.get("link") or "")) or None
    for number, entry in enumerate(feed.entries, start=1):
        url = _link(entry, base, fmt == "atom")
        where = url or f"item {number}"
        try:
            facts = review_facts(parse_fragment(_content(entry)))
            tags = [str(t.get("term") or t.get("label") or "") for t in entry.get("tags", [])]
            record = make_record(
                {
                    "url": url,
                    "title": entry.get("title"),
                    "category": section_of(tags),
                    "author": byline(entry.get("author")),
                    "published_at": _published(entry),
                    "score": facts.score,
                    "score_max": facts.score_max,
                    "tldr": facts.tldr,
                    "excerpt": _excerpt(entry),
                    "image_url": _image(entry, base),
                    # a review box is review markup; else make_record decides by score and title
                    "is_review": (facts.score is not None or facts.has_box) or None,
                }
            )
        except ItemRejected as exc:
            parsed.rejections.append(Rejection(where, exc.reason, exc.detail))
            continue
        parsed.records.append(record)
    return parsed
