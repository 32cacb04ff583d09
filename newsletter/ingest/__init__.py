"""Ingest: read sources, extract normalized records, store each source in one transaction.

A source is a file path (URLs arrive with the HTTP fetcher of issue 3). Each source lands
completely or not at all; one failing source never stops the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from newsletter.db import transaction
from newsletter.errors import NotImplementedYet
from newsletter.ingest.exports import parse_csv, parse_jsonl
from newsletter.ingest.feeds import parse_feed
from newsletter.ingest.pages import parse_page
from newsletter.ingest.pageviews import PageViews, parse_pageviews
from newsletter.ingest.records import Parsed, Rejection, ReviewRecord, SourceError
from newsletter.ingest.store import StoreCounts, store_daily_views, store_reviews
from newsletter.ingest.wpjson import parse_wp_json

FORMATS = ("rss", "atom", "wp-json", "page", "jsonl", "csv", "pageviews")
MAX_FILE_BYTES = 64 * 1024 * 1024

__all__ = [
    "FORMATS",
    "Parsed",
    "Rejection",
    "ReviewRecord",
    "SourceError",
    "SourceReport",
    "ingest_sources",
    "read_source",
]


@dataclass
class SourceReport:
    source: str
    format: str = "?"
    counts: StoreCounts = field(default_factory=StoreCounts)
    rejections: list[Rejection] = field(default_factory=list)
    error: str | None = None
    exit_code: int = 0  # 2: the source is bad input; 1: it could not be handled (yet)


def read_source(source: str) -> bytes:
    """The bytes of a source: a local file (URLs: not implemented yet)."""
    if source.startswith(("http://", "https://")):
        raise NotImplementedYet(f"{source}: fetching URLs")
    path = Path(source)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise SourceError(source, f"file is {size} bytes, over the {MAX_FILE_BYTES} limit")
        return path.read_bytes()
    except IsADirectoryError as exc:
        raise SourceError(source, "is a folder, not a file") from exc
    except OSError as exc:
        raise SourceError(source, exc.strerror or str(exc)) from exc


def detect_format(source: str, data: bytes) -> str:
    name = source.lower()
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if name.endswith(".csv"):
        first = data[:512].decode("utf-8-sig", errors="replace").splitlines()[:1]
        columns = {c.strip().lower() for c in (first[0].split(",") if first else [])}
        return "pageviews" if {"url", "date", "views"} <= columns else "csv"
    if name.endswith(".json"):
        return "wp-json"
    if name.endswith((".html", ".htm")):
        return "page"
    if name.endswith(".atom") or b"<feed" in data[:2048]:
        return "atom"
    if name.endswith((".xml", ".rss")):
        return "rss"
    raise SourceError(source, "cannot tell its format; pass --format")


def parse_source(
    source: str, data: bytes, fmt: str, site_url: str, base_url: str | None = None
) -> Parsed | PageViews:
    """Run the extractor of ``fmt`` over ``data`` (pure: nothing is stored)."""
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
        return parse_page(data, source, base_url)
    raise NotImplementedYet(f"{source}: the {fmt} format")


def ingest_sources(
    factory: sessionmaker[Session], sources: list[str], site_url: str, fmt: str | None = None
) -> list[SourceReport]:
    """Ingest each source in its own transaction; failures are reported, not raised."""
    reports: list[SourceReport] = []
    for source in sources:
        report = SourceReport(source)
        reports.append(report)
        try:
            data = read_source(source)
            report.format = fmt or detect_format(source, data)
            parsed = parse_source(source, data, report.format, site_url)
            with transaction(factory) as session:
                report.rejections = parsed.rejections
                if isinstance(parsed, PageViews):
                    report.counts = store_daily_views(session, parsed.daily)
                else:
                    report.counts = store_reviews(session, parsed.records)
        except (SourceError, NotImplementedYet) as exc:
            report.error, report.exit_code = str(exc), exc.exit_code
    return reports
