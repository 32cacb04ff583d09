"""A fixed issue as plain data, for composition tests (no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from newsletter.compose.content import Branding, IssueContent, ReviewCard
from newsletter.compose.personalize import Recipient

BRAND = Branding(
    "Reviews Weekly",
    "https://reviews.example.com/",
    None,
    "#c2255c",
    "1 Example Street, Springfield",
    "https://news.example.org",
)


def card(
    i: int,
    category: str,
    score: float | None = 7,
    score_max: float | None = 10,
    title: str | None = None,
    tldr: str | None = "Short and sweet.",
) -> ReviewCard:
    norm = None if score is None or score_max is None else score / score_max * 10
    return ReviewCard(
        i,
        f"https://reviews.example.com/r{i}/",
        title or f"REVIEW: Thing {i}",
        category,
        "Jo Park",
        datetime(2026, 11, 25, 12, tzinfo=UTC),
        score,
        score_max,
        norm,
        tldr,
        "An excerpt.",
        f"https://cdn.example.com/{i}.jpg",
    )


CONTENT = IssueContent(
    7,
    "2026-W48",
    None,
    None,
    "Hello.\n\nSecond.",
    date(2026, 11, 27),
    [card(1, "Film", 8.5), card(2, "Anime", 4, 5), card(3, "Tabletop", None, None)],
    [card(4, "TV", 3, 10)],
)
RECIPIENT = Recipient(
    greeting_name='Zoë <b>"Z"</b>',
    email="zoe@example.com",
    picks=" for Film, TV",
    unsubscribe_url="https://news.example.org/u/tok?a=1&b=2",
    preferences_url="https://news.example.org/p/tok",
    view_online_url="https://news.example.org/v/t",
)
