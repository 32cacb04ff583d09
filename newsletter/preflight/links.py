"""Do the issue's links and images answer? HEAD, then GET, in parallel, redirects followed.

:func:`probe_all` asks each URL once (HEAD; a server that refuses HEAD or fails it gets a GET
whose body is never read), with the fetch timeout, a few at a time. :func:`link_findings` turns
the answers into findings: a 4xx or 5xx is an error, a URL that could not be reached at all a
warning (from here a dead host and a missing network look the same), a redirect a note naming
where it ends. The caller caches answers per issue (``link_checks``).
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from newsletter import __version__
from newsletter.preflight.findings import Finding

WORKERS = 8
MAX_REDIRECTS = 5
# Some servers answer HEAD with these although GET works (RFC 9110 9.3.2 says they should not)
_RETRY_WITH_GET = frozenset({403, 404, 405, 406, 429, 500, 501, 502, 503})
_UNREACHABLE = ("ConnectError", "ConnectTimeout")  # the host, not the URL, is the problem


@dataclass(frozen=True)
class Answer:
    url: str
    status: int | None  # the last answer's status; None: none came
    final_url: str | None = None  # where redirects ended, when they did
    error: str | None = None  # why no answer came

    @property
    def broken(self) -> bool:
        return self.status is not None and self.status >= 400


def make_client(timeout: float, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    return httpx.Client(
        timeout=timeout,
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        headers={"User-Agent": f"review-newsletter/{__version__} (pre-flight link check)"},
        transport=transport,
    )


def _ask(client: httpx.Client, method: str, url: str) -> httpx.Response:
    with client.stream(method, url) as response:
        return response  # the body is never read: only the status matters


def probe(client: httpx.Client, url: str) -> Answer:
    try:
        response = _ask(client, "HEAD", url)
        if response.status_code in _RETRY_WITH_GET:
            response = _ask(client, "GET", url)
    except httpx.TooManyRedirects:
        return Answer(url, None, error=f"more than {MAX_REDIRECTS} redirects")
    except httpx.HTTPError as exc:
        return Answer(url, None, error=f"{type(exc).__name__}: {exc}" if str(exc) else repr(exc))
    final = str(response.url)
    return Answer(url, response.status_code, final if final != url else None)


def probe_all(client: httpx.Client, urls: Iterable[str]) -> dict[str, Answer]:
    """Each URL's answer. One URL per host goes first; a host that cannot be reached at all
    (no such name, refused, timed out) is not asked again for its other URLs, so a dead
    image host or a machine without a way out costs one failure per host, not one per URL."""
    wanted = list(dict.fromkeys(urls))
    hosts: dict[str, list[str]] = {}
    for url in wanted:
        hosts.setdefault(urlsplit(url).netloc.lower(), []).append(url)
    first = _parallel(client, [group[0] for group in hosts.values()])
    rest: list[str] = []
    for group in hosts.values():
        head = first[group[0]]
        if head.status is None and head.error and head.error.startswith(_UNREACHABLE):
            first.update({u: Answer(u, None, error=head.error) for u in group[1:]})
        else:
            rest.extend(group[1:])
    found = {**first, **_parallel(client, rest)}
    return {url: found[url] for url in wanted}


def _parallel(client: httpx.Client, urls: list[str]) -> dict[str, Answer]:
    if not urls:
        return {}
    with ThreadPoolExecutor(max_workers=min(WORKERS, len(urls))) as pool:
        return dict(zip(urls, pool.map(lambda url: probe(client, url), urls), strict=True))


def link_findings(answers: dict[str, Answer], images: frozenset[str]) -> list[Finding]:
    """An error per broken URL; one warning per host and reason for URLs with no answer; a
    note per redirect; a note counting the URLs that answered."""
    out: list[Finding] = []
    unreachable: dict[tuple[str, str], list[str]] = {}
    ok = 0
    for url, answer in answers.items():
        kind = "image" if url in images else "link"
        if answer.broken:
            out.append(
                Finding(
                    "links",
                    "error",
                    f"{kind} {url} answered {answer.status}"
                    + (f" (after redirects to {answer.final_url})" if answer.final_url else ""),
                    "correct the address at the source and ingest again, or drop that review "
                    "on the desk",
                )
            )
        elif answer.status is None:
            host = urlsplit(url).netloc.lower()
            unreachable.setdefault((host, answer.error or "no answer"), []).append(url)
        else:
            ok += 1
            if answer.final_url:
                out.append(
                    Finding(
                        "links",
                        "note",
                        f"{kind} {url} redirects to {answer.final_url}",
                        "link to the final address to save readers a hop",
                    )
                )
    for (host, error), failed in unreachable.items():
        count = f"{len(failed)} URL{'s' if len(failed) > 1 else ''}"
        out.append(
            Finding(
                "links",
                "warning",
                f"{count} on {host} could not be reached: {error}",
                "open one in a browser; if this machine has no way out, ignore this",
                tuple(failed),
            )
        )
    if answers:
        out.append(Finding("links", "note", f"{ok} of {len(answers)} links and images answered"))
    return out
