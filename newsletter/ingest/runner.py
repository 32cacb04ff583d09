"""Running an ingest: read or fetch each source, extract, store it in one transaction.

A source is a file path or an http(s) URL. Each source lands completely or not at all (its
records, its page views and its fetch validators share one transaction); one failing source
never stops the others. A URL answered with 304 Not Modified costs no parsing and reports the
records its last good body held as unchanged. The WordPress API is followed page by page
(``X-WP-TotalPages``), each page with its own validators.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from newsletter import __version__
from newsletter.db import transaction
from newsletter.ingest.fetch import Fetched, Fetcher, FetchPolicy, Validators, with_query
from newsletter.ingest.formats import detect_format, is_url, parse_source
from newsletter.ingest.pageviews import PageViews
from newsletter.ingest.records import Parsed, Rejection, SourceError
from newsletter.ingest.store import StoreCounts, store_daily_views, store_reviews
from newsletter.models import FetchState, utcnow

MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_WP_PAGES = 100  # 100 pages of up to 100 posts: far more than a week's worth


@dataclass
class SourceReport:
    source: str
    format: str = "?"
    counts: StoreCounts = field(default_factory=StoreCounts)
    rejections: list[Rejection] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    not_modified: bool = False
    error: str | None = None
    exit_code: int = 0  # 2: the source is bad input or could not be fetched


def fetch_policy(site_url: str, timeout: float, max_bytes: int) -> FetchPolicy:
    """The fetch policy of a run, with a User-Agent that says who is asking (RFC 9110 10.1.5)."""
    return FetchPolicy(
        timeout=timeout,
        max_bytes=max_bytes,
        user_agent=f"newsletter-digest/{__version__} (weekly digest of {site_url})",
    )


def read_file(source: str) -> bytes:
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


def _store(session: Session, report: SourceReport, results: list[Parsed | PageViews]) -> None:
    for parsed in results:
        report.rejections.extend(parsed.rejections)
        if isinstance(parsed, Parsed):
            report.format = parsed.format  # what the document turned out to be (RSS or Atom)
        if isinstance(parsed, PageViews):
            report.counts += store_daily_views(session, parsed.daily)
        else:
            report.notes.extend(parsed.notes)
            report.counts += store_reviews(session, parsed.records, source=report.source)


def _ingest_file(
    factory: sessionmaker[Session], source: str, site_url: str, fmt: str | None
) -> SourceReport:
    report = SourceReport(source)
    data = read_file(source)
    report.format = fmt or detect_format(source, data)
    parsed = parse_source(source, data, report.format, site_url)
    with transaction(factory) as session:
        _store(session, report, [parsed])
    return report


def _size(parsed: Parsed | PageViews) -> int:
    return len(parsed.daily) if isinstance(parsed, PageViews) else len(parsed.records)


def _ingest_url(
    factory: sessionmaker[Session],
    fetcher: Fetcher,
    source: str,
    site_url: str,
    fmt: str | None,
) -> SourceReport:
    report = SourceReport(source)
    known: dict[str, FetchState | None] = {}

    def get(url: str) -> Fetched:
        with factory() as session:
            state = known[url] = session.get(FetchState, url)
        fetched = fetcher.get(url, Validators(state.etag, state.last_modified) if state else None)
        if fetched.not_modified and state is None:
            raise SourceError(url, "HTTP 304 Not Modified to a request that was not conditional")
        report.notes.extend(fetched.notes)
        return fetched

    first = get(source)
    fetched = [first]
    if not first.not_modified:
        report.format = fmt or detect_format(source, first.body, first.content_type)
    last = known[source]
    if first.not_modified and last:
        report.format = last.format or report.format
    pages = last.pages if first.not_modified and last else first.total_pages
    if (fmt or report.format) in ("wp-json", "?") and pages and pages > 1:
        if pages > MAX_WP_PAGES:
            report.notes.append(f"{pages} pages; read the first {MAX_WP_PAGES}")
        for number in range(2, min(pages, MAX_WP_PAGES) + 1):
            fetched.append(get(with_query(source, page=str(number))))

    results: list[tuple[Fetched, Parsed | PageViews | None]] = []
    for page in fetched:
        if page.not_modified:
            results.append((page, None))
            continue
        if report.format == "?":
            report.format = fmt or detect_format(source, page.body, page.content_type)
        results.append(
            (
                page,
                parse_source(
                    page.url, page.body, report.format, site_url, page.final_url, page.charset
                ),
            )
        )
    report.not_modified = all(p is None for _, p in results)
    now = utcnow()
    with transaction(factory) as session:
        _store(session, report, [p for _, p in results if p is not None])
        for page, result in results:
            state = session.get(FetchState, page.url) or FetchState(url=page.url, changed_at=now)
            session.add(state)
            state.etag = page.validators.etag
            state.last_modified = page.validators.last_modified
            state.fetched_at = now
            if result is None:
                report.counts.unchanged += state.records or 0
                continue
            state.records = _size(result)
            state.format = report.format
            state.changed_at = now
            state.pages = (page.total_pages or 1) if page.url == source else 1
    return report


def ingest_sources(
    factory: sessionmaker[Session],
    sources: list[str],
    site_url: str,
    fmt: str | None = None,
    fetcher: Fetcher | None = None,
) -> list[SourceReport]:
    """Ingest each source in its own transaction; failures are reported, not raised."""
    own = fetcher is None and any(is_url(s) for s in sources)
    client = fetcher or (Fetcher() if own else None)
    reports: list[SourceReport] = []
    try:
        for source in sources:
            try:
                if is_url(source):
                    assert client is not None
                    report = _ingest_url(factory, client, source, site_url, fmt)
                else:
                    report = _ingest_file(factory, source, site_url, fmt)
            except SourceError as exc:
                report = SourceReport(source, fmt or "?", error=str(exc), exit_code=2)
            reports.append(report)
    finally:
        if own and client is not None:
            client.close()
    return reports
