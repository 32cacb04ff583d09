"""Selection of an issue's reviews (pure: plain data in, plain data out)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from newsletter.issues.selection import (
    Candidate,
    DayMetric,
    Limits,
    Selection,
    balanced,
    select_issue,
    trend_score,
)

CUTOFF = datetime(2026, 11, 27, 15, tzinfo=UTC)
START = CUTOFF - timedelta(days=7)


def cand(
    i: int,
    category: str = "Film",
    days_ago: float = 1,
    score: float | None = 7.0,
    is_review: bool = True,
) -> Candidate:
    return Candidate(
        i,
        f"https://r.example/{i:03d}/",
        f"https://r.example/{i:03d}/",
        category,
        CUTOFF - timedelta(days=days_ago),
        score,
        is_review,
    )


def views(per_day: dict[int, int]) -> list[DayMetric]:
    return [DayMetric(CUTOFF.date() - timedelta(days=d), v, 0) for d, v in per_day.items()]


def run(
    candidates: list[Candidate],
    metrics: dict[str, list[DayMetric]] | None = None,
    featured: set[int] | None = None,
    recent: set[int] | None = None,
    limits: Limits | None = None,
) -> Selection:
    return select_issue(
        candidates,
        metrics or {},
        window_start=START,
        cutoff=CUTOFF,
        featured=featured or set(),
        recent_trending=recent or set(),
        limits=limits or Limits(),
    )


def test_new_is_the_window_best_score_first_without_featured_or_non_reviews() -> None:
    chosen = run(
        [
            cand(1, score=6),
            cand(2, score=9),
            cand(3, score=None),
            cand(4, days_ago=8),
            cand(5, days_ago=-1),
            cand(6, score=9.5),
            cand(7, is_review=False),
        ],
        featured={6},
    )
    assert [p.review_id for p in chosen.new] == [2, 1, 3]


def test_trending_decays_with_age_and_excludes_new_and_recent() -> None:
    older = [
        cand(10, days_ago=20),
        cand(11, days_ago=30),
        cand(12, days_ago=40),
        cand(13, days_ago=50),
    ]
    fresh = cand(1, days_ago=2)
    metrics = {
        older[0].url_key: views({10: 5000}),  # big, but ten days ago
        older[1].url_key: views({1: 1000}),  # yesterday
        older[2].url_key: views({2: 900}),
        older[3].url_key: views({1: 5000}),  # featured as trending recently
        fresh.url_key: views({1: 9000}),  # already in New
    }
    chosen = run([*older, fresh], metrics, recent={13})
    assert [p.review_id for p in chosen.new] == [1]
    assert [p.review_id for p in chosen.trending] == [11, 12, 10]
    scores = [p.trend_score or 0 for p in chosen.trending]
    assert scores == sorted(scores, reverse=True)


def test_trend_score_formula() -> None:
    metrics = [
        DayMetric(date(2026, 11, 26), 100, 1),
        DayMetric(date(2026, 11, 24), 80, 0),
        DayMetric(date(2026, 10, 1), 10_000, 0),
    ]  # outside the 28-day window
    half = 3.0
    expected = (100 + 10) * 0.5 ** (1 / half) + 80 * 0.5 ** (3 / half)
    assert abs(trend_score(metrics, date(2026, 11, 27), half) - expected) < 1e-6


def test_balance_caps_a_category_at_half_while_others_have_candidates() -> None:
    ranked = [cand(i, "Film") for i in range(1, 7)] + [cand(7, "TV"), cand(8, "Anime")]
    chosen = balanced(ranked, 4)
    assert [c.review_id for c in chosen] == [1, 2, 7, 8]
    only_film = [cand(i, "Film") for i in range(1, 7)]
    assert [c.review_id for c in balanced(only_film, 4)] == [1, 2, 3, 4]


def test_caps_apply_and_selection_is_deterministic() -> None:
    candidates = [
        cand(i, ["Film", "TV", "Anime"][i % 3], days_ago=1 + i / 10, score=7.0)
        for i in range(1, 30)
    ]
    first = run(candidates, limits=Limits(new=5, trending=2))
    again = run(list(reversed(candidates)), limits=Limits(new=5, trending=2))
    assert len(first.new) == 5
    assert first == again


def test_empty_week() -> None:
    assert run([]).empty
    quiet = run([cand(10, days_ago=20)], {"https://r.example/010/": views({1: 50})})
    assert quiet.new == [] and [p.review_id for p in quiet.trending] == [10]
