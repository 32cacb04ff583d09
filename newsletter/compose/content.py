"""Plain data that composition works on: an issue's cards and the publication's branding.

Built from the database by ``newsletter.issues`` (or by hand in tests); rendering never touches
the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

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
    subject: str
    preheader: str
    intro: str
    issue_date: date
    new: list[ReviewCard] = field(default_factory=list)
    trending: list[ReviewCard] = field(default_factory=list)

    def for_mask(self, mask: int) -> IssueContent:
        """The cards a subscriber with category ``mask`` gets (0: everything)."""
        return IssueContent(
            self.issue_id,
            self.week_key,
            self.subject,
            self.preheader,
            self.intro,
            self.issue_date,
            [c for c in self.new if wants(mask, c.category)],
            [c for c in self.trending if wants(mask, c.category)],
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
