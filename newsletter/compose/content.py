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
        """This content with an automatic subject and preheader written from its own cards."""
        new, trending = len(self.new), len(self.trending)
        return replace(
            self,
            subject=self.subject
            or default_subject(site_name, [c.title for c in self.cards], new + trending),
            preheader=self.preheader or default_preheader(new, trending),
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


def _short(title: str) -> str:
    title = re.sub(r"^(REVIEW|RECAP)\s*[:\-–]\s*", "", title, flags=re.IGNORECASE)
    return title if len(title) <= 70 else title[:69].rstrip() + "…"


def default_subject(site: str, titles: list[str], count: int) -> str:
    """ "Site: Lead Title + N more", led by the first card."""
    if not titles:
        return site
    more = count - 1
    return f"{site}: {_short(titles[0])}" + (f" + {more} more" if more else "")


def default_preheader(new: int, trending: int) -> str:
    parts = []
    if new:
        parts.append(f"{new} new review{'s' if new != 1 else ''}")
    if trending:
        parts.append(f"{trending} trending pick{'s' if trending != 1 else ''}")
    return " and ".join(parts) + ", each with a TL;DR and a score."
