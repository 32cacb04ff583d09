"""The review facts inside an article's HTML: the score box and the TL;DR.

Used on feed content, WordPress ``content.rendered`` and a page's article element. In order of
trust: a review-box plugin's markup (WP Review, Taqyeem, Lets Review and look-alikes; the box
*total*, never one criterion), then a box of a plugin we have no spec for, read by general rules
(``ingest.boxrules``: a schema.org Rating in the markup, data attributes, a "final score"
element), then a score written as text
(``ingest.scoretext``): standing alone in its own block ("8.5 out of 10", "★★★★☆ 4/5") unless a
criterion's label sits beside it ("Graphics" | "9/10"), labelled ("Rating: 8/10"), under a
verdict heading, and last a verdict sentence ("Verdict: 4 out of 5 stars"). A fraction inside
prose ("the insert alone is a 10/10") is not a score. Widgets that list other posts (related,
trending, sidebars) are removed first: their scores belong to other reviews.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from newsletter.ingest.boxrules import data_score, final_score, schema_rating
from newsletter.ingest.html import HtmlElement, has_class, text_of
from newsletter.ingest.scoretext import (
    FRACTION,
    SCORE_TEXT,
    VERDICT_LABEL,
    closing_score,
    plausible,
    prose_verdict,
)
from newsletter.ingest.scoretext import parse_score as parse_score

TLDR_LABEL = re.compile(
    r"^\s*(?:tl\s*;?\s*dr|too\s+long\s*;?\s*didn[’']?t\s+read)\s*[:\-–—.]?\s*(.*)$", re.I | re.S
)

# Containers of other posts: their titles, bylines and scores are not this article's.
NOISE_CLASSES = (
    "post-card",
    "related-posts",
    "jp-relatedposts",
    "yarpp-related",
    "widget",
    "widget-area",
    "share-bar",
    "sharedaddy",
    "author-box",
    "newsletter-cta",
    "trending-mega",
    "header-trending",
)
NOISE_PREDICATE = " or ".join(has_class(c) for c in NOISE_CLASSES) + " or self::aside or self::nav"

_BLOCKS = ("p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "td", "dd", "dt", "blockquote", "div")
_BLOCK_SET = frozenset(_BLOCKS)


@dataclass(frozen=True)
class BoxSpec:
    """One review-box plugin: its container, total, criteria, summary and default scale."""

    name: str
    container: str
    total: str
    criteria: str
    summary: str
    labels: str  # summary headings to leave out ("TL;DR")


PLUGINS: tuple[BoxSpec, ...] = (
    BoxSpec(
        "wp-review",
        f".//*[{has_class('review-wrapper')}]",
        f".//*[{has_class('review-total-box')}]",
        f".//*[{has_class('review-list')}]/li",
        f".//*[{has_class('review-desc')}]",
        f".//*[{has_class('review-summary-title')}]",
    ),
    BoxSpec(
        "taqyeem",
        f".//*[{has_class('review_wrap')} or {has_class('review-box')}]",
        f".//*[{has_class('review-final-score')}]//h3 | .//*[{has_class('review-final-score')}]",
        f".//*[{has_class('review-item')}]",
        f".//*[{has_class('review-short-summary')} or {has_class('review-summary')}]",
        f".//*[{has_class('review-summary-title')}]",
    ),
    BoxSpec(
        "lets-review",
        f".//*[{has_class('lets-review-block__wrap')}]",
        f".//*[{has_class('lets-review-block__final-score')}]",
        f".//*[{has_class('lets-review-block__crit')}]",
        f".//*[{has_class('lets-review-block__conclusion')}]",
        f".//*[{has_class('lets-review-block__conclusion__title')}]",
    ),
)


@dataclass(frozen=True)
class ReviewFacts:
    """What the article's body says about itself."""

    score: float | None = None
    score_max: float | None = None
    tldr: str | None = None
    has_box: bool = False  # a review box is present: the post is a review by its markup


_NOISE_TAGS = frozenset({"aside", "nav", "script", "style", "form"})
_NOISE_SET = frozenset(NOISE_CLASSES)


def prune_noise(root: HtmlElement) -> HtmlElement:
    """Remove other posts' widgets, navigation and scripts from ``root`` (in place).

    One pass in Python over the elements: an XPath with a dozen class predicates costs more
    than the rest of the extraction on a feed item."""
    doomed = [
        el
        for el in root.iterdescendants()
        if el.tag in _NOISE_TAGS or _NOISE_SET.intersection((el.get("class") or "").split())
    ]
    for el in doomed:
        if el.getparent() is not None:
            el.drop_tree()
    return root


def _box_scale(container: HtmlElement) -> float:
    classes = container.get("class", "")
    if "percentage" in classes:
        return 100.0
    if "star" in classes:
        return 5.0
    return 10.0


def _summary(el: HtmlElement | None, labels: str) -> str | None:
    if el is None:
        return None
    for label in el.xpath(labels):
        label.drop_tree()
    text = text_of(el)
    if text:
        match = TLDR_LABEL.match(text)
        text = match.group(1).strip() if match else text
    return text or None


def _from_box(root: HtmlElement) -> ReviewFacts | None:
    for spec in PLUGINS:
        boxes = root.xpath(spec.container)
        if not boxes:
            continue
        box = boxes[0]
        scale = _box_scale(box)
        score: tuple[float, float] | None = None
        for total in box.xpath(spec.total):
            score = parse_score(text_of(total), scale)
            if score:
                break
        if score is None:
            criteria = [parse_score(_criterion_text(c), scale) for c in box.xpath(spec.criteria)]
            found = [c for c in criteria if c]
            if found:  # no total printed: the mean of the criteria, on their shared scale
                score = (round(sum(c[0] for c in found) / len(found), 1), found[0][1])
        summaries = box.xpath(spec.summary)
        tldr = _summary(summaries[0] if summaries else None, spec.labels)
        return ReviewFacts(
            score[0] if score else None, score[1] if score else None, tldr, has_box=True
        )
    return None


def _criterion_text(item: HtmlElement) -> str | None:
    """A criterion row's own score: "Story - 9/10" -> "9/10"."""
    text = text_of(item) or ""
    fractions = re.findall(FRACTION, text, re.I)
    return f"{fractions[-1][0]}/{fractions[-1][1]}" if fractions else None


def _leaf_blocks(root: HtmlElement) -> list[HtmlElement]:
    """Block elements that hold no other block: where a labelled score or TL;DR sits."""
    found: list[HtmlElement] = []
    for el in root.iter(*_BLOCKS):
        if not any(isinstance(d.tag, str) and d.tag in _BLOCK_SET for d in el.iterdescendants()):
            found.append(el)
    return found


def _next_text(el: HtmlElement) -> str | None:
    """The text of the first non-empty block after a label-only block."""
    sibling = el.getnext()
    while sibling is not None:
        text = text_of(sibling)
        if text:
            return text
        sibling = sibling.getnext()
    return None


def _criterion(block: HtmlElement) -> bool:
    """A lone score in a row that names a criterion before it: ``<td>Graphics</td><td>9/10``,
    ``<dt>Story</dt><dd>6/10``. Such a score is one part of a box, not its total; a row named
    "Overall" or "Verdict" is the total."""
    label_el = block.getprevious()
    parent = block.getparent()
    if label_el is None or parent is None or not isinstance(label_el.tag, str):
        return False
    if parent.tag not in ("tr", "dl") and len(parent) != 2:
        return False  # not a row: a paragraph before a score in the body is no label
    label = text_of(label_el) or ""
    short = 0 < len(label) <= 40 and not re.search(r"[.!?]$|\d", label)
    return short and not VERDICT_LABEL.match(label)


def _link_text(block: HtmlElement, text: str) -> bool:
    """Whether the block's text is a link's: a score on a link is the linked post's."""
    if block.xpath("ancestor::a"):
        return True
    return any(text_of(link) == text for link in block.iter("a"))


def _block_score(block: HtmlElement, text: str) -> tuple[float, float] | None:
    """A score standing alone or labelled in its own block."""
    if len(text) > 80 or _link_text(block, text):
        return None
    score = parse_score(text)
    if score and SCORE_TEXT.match(text) and _criterion(block):
        return None
    return score


def _verdict_score(blocks: list[tuple[HtmlElement, str]]) -> tuple[float, float] | None:
    """A score under a verdict label ("Final score" then "7.5"; "Verdict" then a paragraph
    ending "4 out of 5 stars."), else a verdict sentence ("Verdict: 4 out of 5 stars")."""
    for index, (_, text) in enumerate(blocks):
        if VERDICT_LABEL.match(text) and index + 1 < len(blocks):
            after = blocks[index + 1][1]
            score = parse_score(after, 10.0) if len(after) <= 80 else None
            found = plausible(score) or closing_score(after)
            if found:
                return found
        found = prose_verdict(text)
        if found:
            return found
    return None


def _from_text(root: HtmlElement) -> ReviewFacts:
    score: tuple[float, float] | None = None
    tldr: str | None = None
    blocks = [(b, t) for b in _leaf_blocks(root) if (t := text_of(b))]
    for block, text in blocks:
        if score is None:
            score = _block_score(block, text)
        if tldr is None:
            match = TLDR_LABEL.match(text)
            if match:
                tldr = match.group(1).strip() or _next_text(block)
        if score and tldr:
            break
    if score is None:
        score = _verdict_score(blocks)
    return ReviewFacts(score[0] if score else None, score[1] if score else None, tldr)


def _generic_box(root: HtmlElement) -> ReviewFacts | None:
    """A box of a plugin we have no spec for (``ingest.boxrules``); it has no TL;DR of its own
    that we could tell from prose."""
    score = schema_rating(root) or data_score(root) or final_score(root)
    return ReviewFacts(score[0], score[1], None, has_box=True) if score else None


def review_facts(root: HtmlElement) -> ReviewFacts:
    """Score and TL;DR of the article under ``root`` (pruned of other posts' widgets in place)."""
    prune_noise(root)
    box = _from_box(root) or _generic_box(root)
    if box and box.score is not None and box.tldr:
        return box
    text = _from_text(root)
    if box is None:
        return text
    return ReviewFacts(
        box.score if box.score is not None else text.score,
        box.score_max if box.score is not None else text.score_max,
        box.tldr or text.tldr,
        has_box=True,
    )
