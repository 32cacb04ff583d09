"""Fetching source URLs over HTTP (httpx) politely and defensively.

- Timeouts on connect and on every read, plus a deadline for the whole request: connecting,
  the TLS handshake, the status line and headers, and the body (a server that trickles one
  header line or one byte a second never holds the job). Every socket operation is given what
  is left of the deadline as its timeout (``ingest.deadline``), so it ends on time
  however the server paces its answer; a request that overran it is not retried.
- A size cap on the *decoded* body (a gzip bomb is capped too) and on ``Content-Length``.
- Redirects followed up to :attr:`FetchPolicy.max_redirects`; a permanent one is noted so the
  operator can update ``NEWSLETTER_SOURCES``.
- Retries with exponential backoff on connection errors, timeouts, 5xx and 429, honouring a
  short ``Retry-After`` (RFC 9110 section 10.2.3). Other 4xx answers fail at once.
- Conditional GET: the caller passes the ETag / Last-Modified of the last good fetch and gets
  ``not_modified`` on a 304 (RFC 9110 section 13.1), so an unchanged feed costs no body.
- A User-Agent that names us and where to reach us.

Every failure is a :class:`SourceError` naming the URL and the reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import httpx

from newsletter import __version__
from newsletter.ingest.deadline import Deadline, deadline_transport
from newsletter.ingest.records import SourceError

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class FetchPolicy:
    timeout: float = 20.0  # seconds for connect and for each read
    max_bytes: int = 20 * 1024 * 1024
    max_redirects: int = 5
    attempts: int = 3
    backoff: float = 1.0  # first retry delay; doubles each time
    max_retry_after: float = 30.0
    user_agent: str = f"newsletter-digest/{__version__}"

    @property
    def deadline(self) -> float:
        """The longest one attempt may take: connect, headers and body."""
        return self.timeout * 3

    @property
    def longest(self) -> float:
        """The longest one :meth:`Fetcher.get` may take, every attempt and pause included."""
        pauses = sum(
            max(self.backoff * 2.0**n, self.max_retry_after) for n in range(self.attempts - 1)
        )
        return self.deadline * self.attempts + pauses


@dataclass(frozen=True)
class Validators:
    """What a server told us to send back to ask "has it changed?"."""

    etag: str | None = None
    last_modified: str | None = None

    def headers(self) -> dict[str, str]:
        found: dict[str, str] = {}
        if self.etag:
            found["If-None-Match"] = self.etag
        if self.last_modified:
            found["If-Modified-Since"] = self.last_modified
        return found


@dataclass(frozen=True)
class Fetched:
    url: str  # as asked for
    final_url: str  # after redirects
    status: int
    body: bytes = b""
    content_type: str | None = None
    charset: str | None = None
    validators: Validators = field(default_factory=Validators)
    total_pages: int | None = None  # WordPress X-WP-TotalPages
    notes: tuple[str, ...] = ()

    @property
    def not_modified(self) -> bool:
        return self.status == 304


class _Retry(Exception):
    def __init__(self, reason: str, after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.after = after


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def with_query(url: str, **params: str) -> str:
    """``url`` with query parameters set (``page=2`` for the WordPress API)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query.extend(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


class Fetcher:
    """One HTTP client for a run, used by one thread at a time. ``transport`` lets tests inject
    ``httpx.MockTransport`` (the deadline is then checked between body chunks only)."""

    def __init__(
        self,
        policy: FetchPolicy | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.policy = policy or FetchPolicy()
        self._sleep = sleep
        self._deadline = Deadline()
        self._client = httpx.Client(
            transport=transport or deadline_transport(self._deadline),
            timeout=httpx.Timeout(self.policy.timeout),
            follow_redirects=True,
            max_redirects=self.policy.max_redirects,
            headers={
                "User-Agent": self.policy.user_agent,
                "Accept": "application/rss+xml, application/atom+xml, application/json, "
                "text/html;q=0.9, text/csv;q=0.9, */*;q=0.5",
            },
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def get(self, url: str, validators: Validators | None = None) -> Fetched:
        """GET ``url`` with retries; raises :class:`SourceError` when it cannot be had."""
        attempts = self.policy.attempts
        for attempt in range(1, attempts + 1):
            try:
                return self._once(url, validators or Validators())
            except _Retry as exc:
                if attempt == attempts:
                    raise SourceError(
                        url, f"{exc.reason} (gave up after {attempts} attempts)"
                    ) from exc
                delay = self.policy.backoff * 2 ** (attempt - 1)
                if exc.after is not None:
                    delay = max(delay, min(exc.after, self.policy.max_retry_after))
                self._sleep(delay)
        raise AssertionError("unreachable")

    def _once(self, url: str, validators: Validators) -> Fetched:
        started = time.monotonic()
        self._deadline.at = started + self.policy.deadline
        try:
            return self._request(url, validators, started)
        except httpx.TimeoutException as exc:
            if time.monotonic() - self._deadline.at >= -0.05:  # what ran out was the deadline
                raise SourceError(url, self._overran) from exc
            raise _Retry(
                f"timed out ({type(exc).__name__}, limit {self.policy.timeout:g} s)"
            ) from exc
        finally:
            self._deadline.at = None

    @property
    def _overran(self) -> str:
        return f"no complete answer within {self.policy.deadline:g} s (the request's deadline)"

    def _request(self, url: str, validators: Validators, started: float) -> Fetched:
        policy = self.policy
        try:
            with self._client.stream("GET", url, headers=validators.headers()) as response:
                status = response.status_code
                if status in RETRY_STATUSES:
                    raise _Retry(
                        f"HTTP {status} {response.reason_phrase}",
                        _retry_after(response.headers.get("Retry-After")),
                    )
                if status >= 400:
                    raise SourceError(url, f"HTTP {status} {response.reason_phrase}")
                notes = tuple(
                    f"moved permanently to {urljoin(str(r.url), r.headers.get('location', ''))};"
                    " update the source"
                    for r in response.history
                    if r.status_code in (301, 308)
                )
                found = Validators(
                    response.headers.get("ETag") or validators.etag,
                    response.headers.get("Last-Modified") or validators.last_modified,
                )
                final = str(response.url)
                if status == 304:
                    return Fetched(url, final, 304, validators=found, notes=notes)
                length = response.headers.get("Content-Length", "")
                if length.isdigit() and int(length) > policy.max_bytes:
                    raise SourceError(
                        url, f"body is {length} bytes, over the {policy.max_bytes}-byte limit"
                    )
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > policy.max_bytes:
                        raise SourceError(
                            url, f"body is over the {policy.max_bytes}-byte limit; stopped reading"
                        )
                    if time.monotonic() - started > policy.deadline:
                        raise SourceError(url, self._overran)
                    chunks.append(chunk)
                pages = response.headers.get("X-WP-TotalPages", "")
                return Fetched(
                    url,
                    final,
                    status,
                    b"".join(chunks),
                    response.headers.get("Content-Type"),
                    response.charset_encoding,
                    found,
                    int(pages) if pages.isdigit() else None,
                    notes,
                )
        except httpx.TooManyRedirects as exc:
            raise SourceError(url, f"more than {policy.max_redirects} redirects") from exc
        except httpx.UnsupportedProtocol as exc:
            raise SourceError(url, f"not an http(s) URL ({exc})") from exc
        except httpx.TimeoutException:
            raise  # _once tells a timed-out read from an overrun deadline
        except httpx.TransportError as exc:
            raise _Retry(f"connection failed ({type(exc).__name__}: {exc})") from exc
        except httpx.InvalidURL as exc:
            raise SourceError(url, f"not a usable URL ({exc})") from exc
