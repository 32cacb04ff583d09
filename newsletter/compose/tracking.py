"""Tracked links and the open pixel, written into a rendered variant once (pure).

Every ``<a href="https://...">`` of the HTML part and every http(s) URL of the text part
becomes ``{base}/c/{link token}/{click placeholder}``: the link token names a row of
``issue_links`` and is the same for every recipient of the issue; the placeholder is filled
per recipient with their click token (see :mod:`newsletter.compose.personalize`). So the
variant is still rendered and inlined once, and a recipient costs one more HMAC, not one per
link. Our own per-recipient links (unsubscribe, preferences, view online) are placeholders
at this point, not URLs, and are left alone: an unsubscribe link must never depend on the
click redirect.

:func:`track` takes the function that registers a URL and returns its link token, so it
stays free of the database.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import replace

from newsletter.compose.personalize import Placeholders
from newsletter.compose.render import RenderedVariant, safe_url

_HREF = re.compile(r"""(<a\b[^>]*?\shref=)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)
_TEXT_URL = re.compile(r"""https?://[^\s<>"']+""")
_TRAILING = ".,;:!?)]"  # punctuation after a URL in prose is not part of it
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


def click_url(base_url: str, link_token: str, marks: Placeholders) -> str:
    return f"{base_url}/c/{link_token}/{marks.marks['click_token']}"


def track(
    variant: RenderedVariant,
    base_url: str,
    link_token: Callable[[str], str | None],
    *,
    pixel: bool = False,
) -> RenderedVariant:
    """``variant`` with its links sent through the click redirect, and with the open pixel
    before ``</body>`` when ``pixel``. ``link_token(url)`` registers ``url`` (already an
    absolute https URL) and returns its token, or None to leave that link alone."""
    marks = Placeholders(variant.nonce)

    def tracked(url: str) -> str | None:
        target = safe_url(url)
        token = link_token(target) if target else None
        return click_url(base_url, token, marks) if token else None

    def in_html(match: re.Match[str]) -> str:
        url = html.unescape(match.group(3)).strip()
        new = tracked(url)
        if new is None:
            return match.group(0)
        return f"{match.group(1)}{match.group(2)}{html.escape(new)}{match.group(2)}"

    def in_text(match: re.Match[str]) -> str:
        url = match.group(0)
        tail = ""
        while url and url[-1] in _TRAILING:
            url, tail = url[:-1], url[-1] + tail
        new = tracked(url)
        return (new if new is not None else url) + tail

    body = _HREF.sub(in_html, variant.html)
    if pixel:
        image = (
            f'<img src="{base_url}/o/{marks.marks["click_token"]}" width="1" height="1" '
            'alt="" style="display: block; border: 0; width: 1px; height: 1px;">'
        )
        found = list(_BODY_END.finditer(body))
        at = found[-1].start() if found else len(body)
        body = body[:at] + image + body[at:]
    return replace(variant, html=body, text=_TEXT_URL.sub(in_text, variant.text))
