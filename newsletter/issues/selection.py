"""Choosing an issue's reviews: "New this week" and "Trending" (pure functions, plain data).

New: reviews published in ``(window_start, cutoff]`` that no earlier issue featured, best score
first. Trending: every other review ranked by a time-decayed popularity score::

    trend = sum over days d in the last TREND_WINDOW_DAYS before the cutoff of
            (views_d + CLICK_WEIGHT * clicks_d) * 0.5 ** (age_d / half_life_days)

where ``age_d`` is the age of day ``d`` in days (yesterday = 1). A review already in "New", or
featured as trending in the last RECENT_TRENDING_ISSUES issues, is not eligible. Both sections
are capped and balanced: while other categories still have candidates, no category takes more
than half a section. Ties break on URL, so the same inputs always give the same issue.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

TREND_WINDOW_DAYS = 28
CLICK_WEIGHT = 10.0
RECENT_TRENDING_ISSUES = 4


@dataclass(frozen=True)
class Candidate:
    review_id: int
    url: str
    url_key: str
    category: str
    published_at: datetime
    score_norm: float | None
    is_review: bool = True


@dataclass(frozen=True)
class DayMetric:
    day: date
    views: int
    clicks: int


@dataclass(frozen=True)
class Pick:
    review_id: int
    trend_score: float | None = None


@dataclass(frozen=True)
class Limits:
    new: int = 12
    trending: int = 5
    half_life_days: float = 3.0


@dataclass
class Selection:
    new: list[Pick] = field(default_factory=list)
    trending: list[Pick] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.new and not self.trending


def trend_score(metrics: Iterable[DayMetric], cutoff: date, half_life_days: float) -> float:
    score = 0.0
    for metric in metrics:
        age = (cutoff - metric.day).days
        if 0 <= age <= TREND_WINDOW_DAYS:
            weight = 0.5 ** (max(age, 1) / half_life_days)
            score += (metric.views + CLICK_WEIGHT * metric.clicks) * weight
    return round(score, 6)


def balanced(ranked: Sequence[Candidate], limit: int) -> list[Candidate]:
    """The first ``limit`` of ``ranked``, no category over half the section while others
    still have candidates; then the leftovers in rank order if the section is not full."""
    cap = max(1, limit // 2)
    chosen: list[Candidate] = []
    per_category: Counter[str] = Counter()
    leftovers: list[Candidate] = []
    for candidate in ranked:
        if len(chosen) == limit:
            break
        if per_category[candidate.category] < cap:
            chosen.append(candidate)
            per_category[candidate.category] += 1
        else:
            leftovers.append(candidate)
    chosen.extend(leftovers[: limit - len(chosen)])
    order = {c.review_id: i for i, c in enumerate(ranked)}
    return sorted(chosen, key=lambda c: order[c.review_id])


def select_issue(
    candidates: Iterable[Candidate],
    metrics: Mapping[str, Sequence[DayMetric]],
    *,
    window_start: datetime,
    cutoff: datetime,
    featured: set[int],
    recent_trending: set[int],
    limits: Limits,
) -> Selection:
    """Pick the reviews of one issue. ``featured``: every review an earlier issue carried;
    ``recent_trending``: those carried as trending by the last few issues."""
    reviews = [c for c in candidates if c.is_review and c.published_at <= cutoff]
    fresh = [c for c in reviews if c.published_at > window_start and c.review_id not in featured]
    fresh.sort(
        key=lambda c: (
            -(c.score_norm if c.score_norm is not None else -1),
            -c.published_at.timestamp(),
            c.url,
        )
    )
    new = balanced(fresh, limits.new)
    taken = {c.review_id for c in new}
    scored = [
        (trend_score(metrics.get(c.url_key, ()), cutoff.date(), limits.half_life_days), c)
        for c in reviews
        if c.review_id not in taken and c.review_id not in recent_trending
    ]
    scores = {c.review_id: s for s, c in scored if s > 0}
    ranked = [c for s, c in sorted(scored, key=lambda sc: (-sc[0], sc[1].url)) if s > 0]
    trending = balanced(ranked, limits.trending)
    return Selection(
        new=[Pick(c.review_id) for c in new],
        trending=[Pick(c.review_id, scores[c.review_id]) for c in trending],
    )
