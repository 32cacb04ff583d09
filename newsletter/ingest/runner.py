"""Running an ingest: read or fetch each source, extract, store it in one transaction.

A source is a file path or an http(s) URL. Each source lands completely or not at all (its
records, its page views and its fetch validators share one transaction); one failing source
never stops the others, whatever it fails with: bad input (:class:`SourceError`), a parser
tripping on hostile data, or the database refusing a value. A failed source is reported in one
line and stores nothing, and so is a source that yields nothing usable (every item rejected).
A URL answered with 304 Not Modified costs no parsing and reports the records its last good body
held as unchanged. The WordPress API is followed page by page (``X-WP-TotalPages``), each page
with its own validators. Files are capped like responses (``NEWSLETTER_FETCH_MAX_BYTES``), and
only regular files are read: ``/dev/zero`` or a FIFO would never end.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from newsletter import __version__
from newsletter.db import transaction
from newsletter.ingest.fetch import Fetched, Fetcher, FetchPolicy, Validators, with_query
from newsletter.ingest.formats import detect_format, is_url, parse_source
from newsletter.ingest.pageviews import PageViews
from newsletter.ingest.records import (
    Parsed,
    Rejection,
    SourceError,
    describe_failure,
    one_line,
)
from newsletter.ingest.store import StoreCounts, store_daily_views, store_reviews
from newsletter.models import URL_LENGTH, FetchState, utcnow

MAX_WP_PAGES = 100  # 100 pages of up to 100 posts: far more than a week's worth
ETAG_MAX, LAST_MODIFIED_MAX = 500, 100  # the columns of fetch_state
log = logging.getLogger(__name__)


@dataclass
class SourceReport:
    source: str
    format: str = "?"
    counts: StoreCounts = field(default_factory=StoreCounts)
    rejections: list[Rejection] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    not_modified: bool = False
    error: str | None = None  # one line: the source failed and stored nothing
    exit_code: int = 0  # 1: the source failed (unusable, unreachable, or yielded nothing usable)

    def fail(self, reason: str) -> None:
        self.error, self.exit_code = reason, 1
        self.counts, self.not_modified = StoreCounts(), False


def fetch_policy(site_url: str, timeout: float, max_bytes: int) -> FetchPolicy:
    """The fetch policy of a run, with a User-Agent that says who is asking (RFC 9110 10.1.5)."""
    return FetchPolicy(
        timeout=timeout,
        max_bytes=max_bytes,
        user_agent=f"newsletter-digest/{__version__} (weekly digest of {site_url})",
    )


_KINDS = {
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a pipe (FIFO)",
    stat.S_IFSOCK: "a socket",
}


def read_file(source: str, max_bytes: int = FetchPolicy.max_bytes) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``; :class:`SourceError` otherwise.

    The file is opened without blocking (a FIFO with no writer would wait forever) and checked
    on the open descriptor, so what is read is what was checked; at most ``max_bytes + 1``
    bytes are read, so a file that grows meanwhile is refused too."""
    try:
        fd = os.open(source, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except IsADirectoryError as exc:
        raise SourceError(source, "is a folder, not a file") from exc
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the name
        raise SourceError(source, getattr(exc, "strerror", None) or str(exc)) from exc
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise SourceError(source, "is a folder, not a file")
        if not stat.S_ISREG(info.st_mode):
            kind = _KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
            raise SourceError(source, f"is {kind}, not a regular file; copy it to a file")
        if info.st_size > max_bytes:
            raise SourceError(
                source, f"file is {info.st_size} bytes, over the {max_bytes}-byte limit"
            )
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise SourceError(source, exc.strerror or str(exc)) from exc
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise SourceError(source, f"file is over the {max_bytes}-byte limit; stopped reading")
    return data


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


def _usable(report: SourceReport, results: list[Parsed | PageViews]) -> None:
    """Refuse a source whose every item was rejected: nothing of it is worth storing, and an
    operator must hear of it (a feed URL now serving something else, an export gone wrong)."""
    if results and not any(_size(r) for r in results):
        rejected = [x for r in results for x in r.rejections]
        if rejected:
            report.rejections.extend(rejected)
            raise SourceError(report.source, f"nothing usable: all {len(rejected)} rejected")


def _ingest_file(
    factory: sessionmaker[Session],
    report: SourceReport,
    site_url: str,
    fmt: str | None,
    max_bytes: int,
) -> None:
    source = report.source
    data = read_file(source, max_bytes)
    report.format = fmt or detect_format(source, data)
    parsed = parse_source(source, data, report.format, site_url)
    _usable(report, [parsed])
    with transaction(factory) as session:
        _store(session, report, [parsed])


def _fits(value: str | None, limit: int) -> str | None:
    return value if value is None or len(value) <= limit else None


def _size(parsed: Parsed | PageViews) -> int:
    return len(parsed.daily) if isinstance(parsed, PageViews) else len(parsed.records)


def _ingest_url(
    factory: sessionmaker[Session],
    fetcher: Fetcher,
    report: SourceReport,
    site_url: str,
    fmt: str | None,
) -> None:
    source = report.source
    known: dict[str, FetchState | None] = {}

    def get(url: str) -> Fetched:
        if len(url) > URL_LENGTH:
            raise SourceError(url[:80], f"URL of {len(url)} characters, over {URL_LENGTH}")
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
    _usable(report, [p for _, p in results if p is not None])
    now = utcnow()
    with transaction(factory) as session:
        _store(session, report, [p for _, p in results if p is not None])
        for page, result in results:
            state = session.get(FetchState, page.url) or FetchState(url=page.url, changed_at=now)
            session.add(state)
            # A validator too long to keep is not kept: the next fetch is unconditional.
            state.etag = _fits(page.validators.etag, ETAG_MAX)
            state.last_modified = _fits(page.validators.last_modified, LAST_MODIFIED_MAX)
            state.fetched_at = now
            if result is None:
                report.counts.unchanged += state.records or 0
                continue
            state.records = _size(result)
            state.format = report.format
            state.changed_at = now
            state.pages = (page.total_pages or 1) if page.url == source else 1


def ingest_sources(
    factory: sessionmaker[Session],
    sources: list[str],
    site_url: str,
    fmt: str | None = None,
    fetcher: Fetcher | None = None,
    *,
    max_bytes: int | None = None,
) -> list[SourceReport]:
    """Ingest each source in its own transaction; failures are reported, never raised.

    Files are capped at ``max_bytes`` (default: the fetcher's body limit)."""
    own = fetcher is None and any(is_url(s) for s in sources)
    client = fetcher or (Fetcher() if own else None)
    policy = client.policy if client else FetchPolicy()
    cap = policy.max_bytes if max_bytes is None else max_bytes
    reports: list[SourceReport] = []
    try:
        for source in sources:
            report = SourceReport(source, fmt or "?")
            try:
                if is_url(source):
                    assert client is not None
                    _ingest_url(factory, client, report, site_url, fmt)
                else:
                    _ingest_file(factory, report, site_url, fmt, cap)
            except SourceError as exc:
                report.fail(str(exc))
            except Exception as exc:  # hostile data tripping a parser, a database refusal
                # The source's transaction has rolled back; the next source starts afresh.
                log.info("ingest of %s failed", source, exc_info=True)
                report.fail(f"{one_line(source)}: failed: {describe_failure(exc)}")
            reports.append(report)
    finally:
        if own and client is not None:
            client.close()
    return reports
