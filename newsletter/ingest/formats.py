"""Which extractor reads a source: detection by content type, name and first bytes.

:func:`parse_source` is pure: bytes in, a :class:`Parsed` (or page views) out. A web server's
error page ("502 Bad Gateway", served with status 200 by a proxy or saved in place of a feed)
is said to be one, whatever format it was taken for, instead of being reported as the feed
items or the review it does not contain.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from newsletter.ingest.exports import parse_csv, parse_jsonl
from newsletter.ingest.feeds import parse_feed
from newsletter.ingest.normalize import plain_text
from newsletter.ingest.pages import parse_page
from newsletter.ingest.pageviews import PageViews, parse_pageviews
from newsletter.ingest.records import Parsed, SourceError
from newsletter.ingest.wpjson import parse_wp_json

FORMATS = ("rss", "atom", "wp-json", "page", "jsonl", "csv", "pageviews")
_HEADING = re.compile(rb"<(title|h1)\b[^>]*>(.{0,300}?)</\1\s*>", re.I | re.S)
# "502 Bad Gateway", "Error 503 Service Unavailable", "HTTP 404 - Not Found": a status code first
_STATUS_HEADING = re.compile(
    r"(?:HTTP(?:/[\d.]+)?\s*)?(?:error\s*:?\s*)?([45]\d\d)\b\W{0,3}.{0,60}", re.I
)


def is_url(source: str) -> bool:
    return source.lower().startswith(("http://", "https://"))


def _csv_kind(data: bytes) -> str:
    first = data[:512].decode("utf-8-sig", errors="replace").splitlines()[:1]
    columns = {c.strip().strip('"').lower() for c in (first[0].split(",") if first else [])}
    return "pageviews" if {"url", "date", "views"} <= columns else "csv"


def _by_content_type(content_type: str | None, data: bytes) -> str | None:
    kind = (content_type or "").split(";")[0].strip().lower()
    if "rss" in kind or "rdf" in kind:
        return "rss"
    if "atom" in kind:
        return "atom"
    if "ndjson" in kind or "jsonl" in kind or "json-seq" in kind:
        return "jsonl"
    if kind.endswith("json"):
        return "wp-json"
    if "html" in kind:
        return "page"
    if kind == "text/csv":
        return _csv_kind(data)
    return None  # text/xml, text/plain, octet-stream: decided by name and bytes


def _by_bytes(data: bytes) -> str | None:
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"{", b"[")):
        return "wp-json"
    if head.startswith((b"<!doctype html", b"<html")):
        return "page"
    if b"<rss" in head or b"<rdf:rdf" in head:  # before <feed: RSS may carry <feedburner:...>
        return "rss"
    if b"<feed" in head:
        return "atom"
    return None


def detect_format(source: str, data: bytes, content_type: str | None = None) -> str:
    """The format of a source from its HTTP content type, its name, then its first bytes."""
    found = _by_content_type(content_type, data)
    if found:
        return found
    name = (urlsplit(source).path if is_url(source) else source).lower()
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if name.endswith(".csv"):
        return _csv_kind(data)
    if name.endswith(".json") or "/wp-json/" in name:
        return "wp-json"
    if name.endswith((".html", ".htm")):
        return "page"
    if name.endswith(".atom"):
        return "atom"
    sniffed = _by_bytes(data)
    if sniffed:
        return sniffed
    if name.endswith((".xml", ".rss")) or name.rstrip("/").endswith("/feed"):
        return "rss"  # the RSS reader says clearly what else it is
    raise SourceError(source, f"cannot tell its format; name it (one of {', '.join(FORMATS)})")


def error_page(data: bytes) -> str | None:
    """``HTTP 502 page '502 Bad Gateway'`` when ``data`` is an HTML page whose title or first
    heading is an HTTP error status, else ``None``."""
    head = data[:8192]
    if not head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        return None
    for match in _HEADING.finditer(head):
        text = plain_text(match.group(2).decode("utf-8", errors="replace"))
        status = _STATUS_HEADING.fullmatch(text or "")
        if text and status:
            return f"HTTP {status.group(1)} page '{text}'"
    return None


def parse_source(
    source: str,
    data: bytes,
    fmt: str,
    site_url: str,
    base_url: str | None = None,
    charset: str | None = None,
) -> Parsed | PageViews:
    """Run the extractor of ``fmt`` over ``data``. ``base_url`` is where the bytes came from
    (relative links resolve against it) and ``charset`` what HTTP said about their encoding.
    An error page is a :class:`SourceError` saying so (:func:`error_page`)."""
    try:
        result = _extract(source, data, fmt, site_url, base_url, charset)
    except SourceError:
        found = error_page(data)
        if found:
            raise SourceError(source, f"not a feed or review page: {found}") from None
        raise
    if isinstance(result, Parsed) and not result.records:
        found = error_page(data)
        if found:
            raise SourceError(source, f"not a feed or review page: {found}")
    return result


def _extract(
    source: str,
    data: bytes,
    fmt: str,
    site_url: str,
    base_url: str | None,
    charset: str | None,
) -> Parsed | PageViews:
    if fmt == "jsonl":
        return parse_jsonl(data, source)
    if fmt == "csv":
        return parse_csv(data, source)
    if fmt == "pageviews":
        return parse_pageviews(data, source, site_url)
    if fmt in ("rss", "atom"):
        return parse_feed(data, source, base_url)
    if fmt == "wp-json":
        return parse_wp_json(data, source)
    if fmt == "page":
        return parse_page(data, source, base_url, charset)
    raise SourceError(source, f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
