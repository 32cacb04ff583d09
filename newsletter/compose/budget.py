"""The size budget: keep an issue's HTML under what Gmail shows without clipping.

Gmail clips a message whose HTML is over about 102 KB behind "[Message clipped] View entire
message", hiding the footer (and with it the unsubscribe link). We keep the fullest variant
(every section, mask 0) under :data:`HTML_BUDGET`, leaving room for the per-recipient values
that personalization adds. When it does not fit, trending cards go first (last first), then
new ones (last first); pinned cards are never dropped. Pure: content in, content out.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, replace

from newsletter.compose.content import Branding, IssueContent, ReviewCard
from newsletter.compose.personalize import Placeholders
from newsletter.compose.render import render_variant
from newsletter.compose.tracking import track

HTML_BUDGET = 95 * 1000  # bytes of UTF-8 HTML, below Gmail's ~102 KB clipping point
PERSONAL_ALLOWANCE = 3 * 1000  # signed links and the greeting, added per recipient
LINK_TOKEN = "x" * 40  # a link token ("link:<id>" signed) is about 37 characters
CLICK_TOKEN_SIZE = 56  # a recipient's click token ("click:<issue>.<subscriber>" signed)


@dataclass(frozen=True)
class Fitted:
    content: IssueContent
    dropped: tuple[ReviewCard, ...]  # in the order they were dropped
    size: int  # bytes of the fullest variant's HTML, with the allowance


def html_size(content: IssueContent, brand: Branding) -> int:
    """Bytes of the fullest variant's inlined HTML, its links as click redirects (longer than
    most review URLs; counted even when tracking is off, to be safe), plus the allowance."""
    variant = track(render_variant(content, 0, brand), brand.base_url, lambda _url: LINK_TOKEN)
    mark = Placeholders(variant.nonce).marks["click_token"]
    links = variant.html.count(mark)
    return (
        len(variant.html.encode("utf-8"))
        + links * (CLICK_TOKEN_SIZE - len(mark))
        + PERSONAL_ALLOWANCE
    )


def fit(
    content: IssueContent,
    brand: Branding,
    pinned: Collection[int] = (),
    budget: int = HTML_BUDGET,
    measure: Callable[[IssueContent, Branding], int] = html_size,
) -> Fitted:
    """``content`` with as few cards dropped as it takes to fit ``budget``."""
    dropped: list[ReviewCard] = []
    size = measure(content, brand)
    while size > budget:
        section, card = _next_victim(content, pinned)
        if card is None:
            break  # only pinned cards are left: the editor's call, reported by the caller
        if section == "trending":
            content = replace(content, trending=[c for c in content.trending if c is not card])
        else:
            content = replace(content, new=[c for c in content.new if c is not card])
        dropped.append(card)
        size = measure(content, brand)
    return Fitted(content, tuple(dropped), size)


def _next_victim(content: IssueContent, pinned: Collection[int]) -> tuple[str, ReviewCard | None]:
    for section in ("trending", "new"):
        for card in reversed(getattr(content, section)):
            if card.review_id not in pinned:
                return section, card
    return "new", None
