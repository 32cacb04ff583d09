"""A fixed issue as plain data, for composition tests (no database); the demo's messages."""

from __future__ import annotations

from datetime import UTC, date, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from newsletter.compose.content import Branding, IssueContent, ReviewCard
from newsletter.compose.personalize import Recipient
from tests.helpers.cli import run

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


def demo_outbox(folder: Path) -> list[Path]:
    """Run ``newsletter demo`` in ``folder`` as a user does (a real process); the messages it
    wrote, largest first (the largest holds every section, the smallest one section)."""
    folder.mkdir(parents=True, exist_ok=True)
    result = run(["demo"], folder)
    assert result.returncode == 0, result.stderr
    outbox = sorted(
        (folder / "newsletter-data" / "outbox").glob("*.eml"),
        key=lambda p: (-p.stat().st_size, p.name),
    )
    assert outbox, result.stdout
    return outbox


def html_of(message: Path) -> str:
    """The decoded text/html part of a stored message."""
    parsed = message_from_bytes(message.read_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    part = parsed.get_body(("html",))
    assert part is not None, message
    html: str = part.get_content()
    return html
