"""Plain data that composition works on: an issue's cards and the publication's branding.

Built from the database by ``newsletter.issues.content`` (or by hand in tests); rendering
never touches the database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime
from typing import Any

from newsletter.config import Settings
from newsletter.sections import wants


@dataclass(frozen=True)
class ReviewCard:
    review_id: int
    url: str
    title: str
    category: str
    author: str | None
    published_at: datetime
    score: float | None
    score_max: float | None
    score_norm: float | None
    tldr: str | None
    excerpt: str | None
    image_url: str | None

    @classmethod
    def of(cls, review: Any) -> ReviewCard:
        """The card of a stored review (any object with its attributes; ``id`` is the
        review's id): one mapping, by field name, for every place that makes cards."""
        names = [f.name for f in fields(cls) if f.name != "review_id"]
        return cls(review.id, **{name: getattr(review, name) for name in names})

    @property
    def score_text(self) -> str | None:
        """The score as published: "7/10", "4/5", "8.5/10"."""
        if self.score is None or self.score_max is None:
            return None
        return f"{self.score:g}/{self.score_max:g}"


@dataclass(frozen=True)
class IssueContent:
    issue_id: int
    week_key: str
    subject: str | None  # None: written from the cards (see ``resolved``)
    preheader: str | None
    intro: str
    issue_date: date
    new: list[ReviewCard] = field(default_factory=list)
    trending: list[ReviewCard] = field(default_factory=list)

    def for_mask(self, mask: int) -> IssueContent:
        """The cards a subscriber with category ``mask`` gets (0: everything)."""
        return replace(
            self,
            new=[c for c in self.new if wants(mask, c.category)],
            trending=[c for c in self.trending if wants(mask, c.category)],
        )

    def resolved(self, site_name: str) -> IssueContent:
        """This content as its readers get it: card titles without the site's "REVIEW:" prefix,
        an automatic intro fitted to the sections this variant has (no promise of trending
        picks to a variant without any), and an automatic subject and preheader written from
        its own cards. The editor's subject, preheader and own intro are kept as written."""
        new = [replace(c, title=clean_title(c.title)) for c in self.new]
        trending = [replace(c, title=clean_title(c.title)) for c in self.trending]
        cards = [*new, *trending]
        lead_tldr = cards[0].tldr if cards else None
        return replace(
            self,
            new=new,
            trending=trending,
            intro=fit_intro(self.intro, len(new), len(trending)),
            subject=self.subject
            or default_subject(site_name, [c.title for c in cards], len(cards)),
            preheader=self.preheader or default_preheader(len(new), len(trending), lead_tldr),
        )

    @property
    def cards(self) -> list[ReviewCard]:
        return [*self.new, *self.trending]


@dataclass(frozen=True)
class Branding:
    site_name: str
    site_url: str
    logo_url: str | None
    accent_color: str
    postal_address: str
    base_url: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Branding:
        return cls(
            settings.site_name,
            settings.site_url,
            settings.logo_url,
            settings.accent_color,
            settings.postal_address,
            settings.base_url,
        )


# The review site's own prefixes: its feed titles read "REVIEW: Dune"; a digest of reviews
# says so once, in its name, not on every card.
_PREFIX = re.compile(r"^\s*(REVIEW|RECAP)\s*[:\-–—]\s*", re.IGNORECASE)
SUBJECT_LIMIT = 60  # what a phone's inbox list shows of a subject, about
PREHEADER_LIMIT = 105  # what inbox lists show after the subject, about (90-110)


def clean_title(title: str) -> str:
    """A review's title as the digest shows it: without the site's "REVIEW:"/"RECAP:" prefix
    (the one place that cleans titles; subject, cards and text part all use it)."""
    cleaned = _PREFIX.sub("", title).strip()
    return cleaned or title.strip()


def trim_words(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters: cut at a word boundary, ending in "…" when cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut and not text[limit - 1].isspace():
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:.-–—") + "…"


def default_subject(site: str, titles: list[str], count: int) -> str:
    """ "Lead Title + N more" within :data:`SUBJECT_LIMIT` characters, led by the first card.

    The site's name is the From name already, so the subject starts with what is new; a long
    title is cut at a word boundary so that " + N more" still fits (unless that would leave
    less than 20 characters of title). No cards: the site's name."""
    if not titles:
        return site
    title = clean_title(titles[0])
    more = f" + {count - 1} more" if count > 1 else ""
    if len(title) + len(more) <= SUBJECT_LIMIT:
        return title + more
    room = SUBJECT_LIMIT - len(more)
    if more and room >= 20:
        return trim_words(title, room) + more
    return trim_words(title, SUBJECT_LIMIT)


def count_text(new: int, trending: int) -> str:
    parts = []
    if new:
        parts.append(f"{new} new review{'s' if new != 1 else ''}")
    if trending:
        parts.append(f"{trending} trending pick{'s' if trending != 1 else ''}")
    return " and ".join(parts) + ", each with a TL;DR and a score."


def default_preheader(new: int, trending: int, lead_tldr: str | None = None) -> str:
    """The lead review's TL;DR (what makes a reader open), cut at a word boundary within
    :data:`PREHEADER_LIMIT` characters; without one, what the issue holds."""
    if lead_tldr and lead_tldr.strip():
        return trim_words(lead_tldr, PREHEADER_LIMIT)
    return count_text(new, trending)


def default_intro(new: int, trending: int) -> str:
    """The automatic intro for an issue (or a variant) with these many cards per section."""
    if not new:
        return "A quiet week for new reviews, so here is what readers have been reading most."
    return (
        "Here is what we reviewed this week, each with its score and a TL;DR, "
        "plus what readers could not stop clicking on."
        if trending
        else "Here is what we reviewed this week, each with its score and a TL;DR."
    )


_AUTOMATIC_INTROS = frozenset(default_intro(n, t) for n in (0, 1) for t in (0, 1))


def fit_intro(intro: str, new: int, trending: int) -> str:
    """An automatic intro rewritten for the sections a variant has (the issue's intro is
    written for the whole issue, and a reader without trending picks must not be promised
    them); an editor's own intro is theirs and stays as written."""
    if intro.strip() in _AUTOMATIC_INTROS:
        return default_intro(new, trending)
    return intro
