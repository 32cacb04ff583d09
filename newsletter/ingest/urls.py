"""URL normalization: the canonical permalink we store, and the key analytics rows join on."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

# Parameters that only say where a click came from; they never name a different page.
TRACKING_PARAMS = frozenset(
    {"fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "igshid", "ref", "_hsenc", "_hsmi"}
)
NOT_POST_PREFIXES = ("/category/", "/tag/", "/author/", "/page/", "/feed/", "/wp-json/", "/search/")
# No URL carries control characters (RFC 3986 section 2) or unpaired surrogates; one that does
# is refused rather than mended into a different address (a NUL would also break PostgreSQL).
_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def _is_tracking(name: str) -> bool:
    return name.lower().startswith("utm_") or name.lower() in TRACKING_PARAMS


def canonical_url(url: str, base: str | None = None) -> str:
    """An absolute http(s) URL with a lower-case host, no fragment and no tracking parameters.

    Returns "" when ``url`` is not (and cannot be resolved into) an http(s) URL: a bad port or
    IPv6 literal, a control character anywhere.
    """
    url = url.strip()
    if _UNSAFE.search(url) or (base and _UNSAFE.search(base)):
        return ""
    try:
        if base:
            url = urljoin(base, url)
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            return ""
        port = parts.port
    except ValueError:  # "Port out of range", "Invalid IPv6 URL"
        return ""
    query = urlencode(
        [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)]
    )
    netloc = parts.hostname.lower() + (f":{port}" if port else "")
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", query, ""))


_ID_ONLY_PARAMS = frozenset({"p", "page_id", "post", "attachment_id"})


def is_permalink(url: str) -> bool:
    """Whether ``url`` names a post by its path: ``https://site/?p=123`` (a WordPress guid)
    only names it by database id and changes with the permalink settings."""
    parts = urlsplit(url)
    if parts.path not in ("", "/"):
        return True
    names = {k.lower() for k, _ in parse_qsl(parts.query, keep_blank_values=True)}
    return bool(names) and not names & _ID_ONLY_PARAMS


def url_key(url: str, site: str | None = None) -> str:
    """The analytics key of a URL: https, host without ``www.``, path with a trailing slash,
    no query or fragment. Relative paths resolve against ``site``. Returns "" when unusable."""
    if _UNSAFE.search(url):
        return ""
    try:
        if site:
            url = urljoin(site, url.strip())
        parts = urlsplit(url.strip())
    except ValueError:  # "Invalid IPv6 URL"
        return ""
    if not parts.hostname:
        return ""
    host = parts.hostname.lower().removeprefix("www.")
    path = parts.path or "/"
    if not path.endswith("/"):
        path += "/"
    return f"https://{host}{path}"


def is_post_path(key: str) -> bool:
    """Whether an analytics key names a post (not home, a category, tag, author or feed page)."""
    path = urlsplit(key).path
    return path not in ("", "/") and not path.startswith(NOT_POST_PREFIXES)
