"""Tracked links and the open pixel, written into a rendered variant once (pure).

Every ``<a href="https://...">`` of the HTML part, and every URL of the text part that the HTML
part links to, becomes ``{base}/c/{link token}/{click placeholder}``: the link token names a row of
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
_TEXT_URL = re.compile(r"""https?://[^\s<>"]+""")
_TRAILING = ".,;:!?)]}'"  # what prose may put right after a URL
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
    tracked_urls: dict[str, str] = {}  # target -> its click URL, from the HTML part

    def tracked(url: str) -> str | None:
        target = safe_url(url)
        if target in tracked_urls:
            return tracked_urls[target]
        token = link_token(target) if target else None
        if not token:
            return None
        tracked_urls[target] = click_url(base_url, token, marks)
        return tracked_urls[target]

    def in_html(match: re.Match[str]) -> str:
        url = html.unescape(match.group(3)).strip()
        new = tracked(url)
        if new is None:
            return match.group(0)
        return f"{match.group(1)}{match.group(2)}{html.escape(new)}{match.group(2)}"

    def in_text(match: re.Match[str]) -> str:
        # Only links the HTML part has: prose around a URL ("(see https://x/a_(b))." or
        # "https://x/it's") cannot be told from the URL by a pattern, but the HTML's href
        # says exactly where it ends. The longest known prefix ending the match wins.
        url = match.group(0)
        for cut in range(len(url), 0, -1):
            if cut < len(url) and url[cut] not in _TRAILING:
                break
            target = safe_url(url[:cut])
            if target in tracked_urls:
                return tracked_urls[target] + url[cut:]
        return url

    body = _HREF.sub(in_html, variant.html)  # first: it decides which links are tracked
    if pixel:
        image = (
            f'<img src="{base_url}/o/{marks.marks["click_token"]}" width="1" height="1" '
            'alt="" style="display: block; border: 0; width: 1px; height: 1px;">'
        )
        found = list(_BODY_END.finditer(body))
        at = found[-1].start() if found else len(body)
        body = body[:at] + image + body[at:]
    return replace(variant, html=body, text=_TEXT_URL.sub(in_text, variant.text))
