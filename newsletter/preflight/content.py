"""Checks of the message itself: size against the clip budget, line lengths, alt text, https.

Pure: the rendered HTML and the whole message in, findings out. The URLs the network checks
try come from here too (:func:`urls`), so both read the HTML the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import lxml.html

from newsletter.compose.budget import HTML_BUDGET
from newsletter.preflight.findings import Finding

LINE_LIMIT = 998  # octets, CRLF excluded (RFC 5322 2.1.1)
CLIP = 102 * 1024  # Gmail hides what follows behind "[Message clipped]"


@dataclass(frozen=True)
class Urls:
    links: tuple[str, ...]  # every <a href>, in document order, once each
    images: tuple[str, ...]  # every <img src>


def _document(html: str) -> lxml.html.HtmlElement:
    root: lxml.html.HtmlElement = lxml.html.document_fromstring(html.encode("utf-8"))
    return root


def urls(html: str) -> Urls:
    root = _document(html)
    links = [a.get("href", "").strip() for a in root.iter("a") if a.get("href")]
    images = [i.get("src", "").strip() for i in root.iter("img") if i.get("src")]
    return Urls(tuple(dict.fromkeys(links)), tuple(dict.fromkeys(images)))


def size_findings(size: int, variant: str) -> list[Finding]:
    """``size``: bytes of the fullest variant's HTML as it goes out (click redirects and the
    per-reader allowance counted, as the build's size guard counts it)."""
    kb = f"{size / 1000:.1f} KB"
    if size > HTML_BUDGET:
        return [
            Finding(
                "size",
                "error",
                f"{variant}: the HTML is {kb}, over the {HTML_BUDGET // 1000} KB budget "
                f"(Gmail clips at about {CLIP // 1024} KB and hides the rest, footer and "
                "unsubscribe link included)",
                "drop a review or shorten the intro on the desk (`newsletter issue show ID` "
                "lists what each item weighs)",
            )
        ]
    return [Finding("size", "note", f"{variant}: the HTML is {kb} of {HTML_BUDGET // 1000} KB")]


def line_findings(message: bytes) -> list[Finding]:
    long = [n for n, line in enumerate(message.split(b"\r\n"), 1) if len(line) > LINE_LIMIT]
    if not long:
        return []
    return [
        Finding(
            "lines",
            "error",
            f"{len(long)} line{'s' if len(long) > 1 else ''} of the message over {LINE_LIMIT} "
            f"octets (first: line {long[0]}); servers may cut or refuse them (RFC 5322 2.1.1)",
            "encode the part as quoted-printable or base64; report this as a bug",
        )
    ]


def alt_findings(html: str) -> list[Finding]:
    """Every image needs an ``alt`` attribute (empty for a decorative one): screen readers
    read out the file name of one without, and clients that block images show nothing."""
    images = _document(html).iter("img")
    missing = [i.get("src", "(no src)") for i in images if i.get("alt") is None]
    return [
        Finding(
            "alt",
            "error",
            f"an image has no alt text: {src}",
            'give it an alt attribute: a few words, or alt="" when it only decorates',
        )
        for src in missing
    ]


def https_findings(found: Urls, own: str) -> list[Finding]:
    """Links and images must be https: clients flag plain http, and mixed content loads no
    images in some of them. ``mailto:`` links are fine; any other scheme is refused. Links to
    the web app itself (under ``own``, NEWSLETTER_BASE_URL) are the one-click check's."""
    out: list[Finding] = []
    for kind, items in (("link", found.links), ("image", found.images)):
        for url in items:
            if url.startswith(own):
                continue
            scheme = urlsplit(url).scheme.lower()
            if scheme == "https" or (kind == "link" and scheme == "mailto"):
                continue
            out.append(
                Finding(
                    "https",
                    "error",
                    f"{'an image' if kind == 'image' else 'a link'} is not https: {url}",
                    "use the https address (fix it at the source and ingest again)",
                )
            )
    return out
