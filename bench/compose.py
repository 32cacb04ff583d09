"""Per-recipient cost of a composed digest: render once vs render per recipient.

Ours: the variant is rendered and inlined once; each recipient costs a substitution, two
quoted-printable encodings and a few headers (``MessageTemplate.build``). Baseline, in the same
run: what a naive sender does per recipient (Jinja render, premailer, ``EmailMessage`` and
``as_bytes``), the way django-newsletter works. Prints messages per second for both and the
ratio.

    .venv/bin/python bench/compose.py [--recipients 5000] [--baseline 100]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage

from newsletter.compose.content import Branding, IssueContent, ReviewCard
from newsletter.compose.message import MessageTemplate
from newsletter.compose.personalize import Recipient, personalize
from newsletter.compose.render import render_variant

BRAND = Branding(
    "Reviews Weekly",
    "https://reviews.example.com/",
    None,
    "#c2255c",
    "100 Example Street, Springfield",
    "https://news.example.com",
)
FROM = "Reviews Weekly <digest@reviews.example.com>"
LIST_ID = "Reviews Weekly <weekly.reviews.example.com>"


def content() -> IssueContent:
    sections = ["Film", "TV", "Anime", "Comics", "Video Games", "Tabletop"]
    cards = [
        ReviewCard(
            i,
            f"https://reviews.example.com/review-{i}/",
            f"REVIEW: ‘Title Number {i}’ Is Good",
            sections[i % 6],
            "Jo Park",
            datetime(2026, 11, 20, tzinfo=UTC) - timedelta(days=i),
            7.5,
            10,
            7.5,
            "A long enough TL;DR that reads like a real one, with a clause or two "
            "of judgement and a verdict at the end of it, as the site writes them.",
            "An excerpt.",
            f"https://cdn.example.com/{i}.jpg",
        )
        for i in range(17)
    ]
    return IssueContent(
        1, "2026-W48", None, None, "Hello.", date(2026, 11, 27), cards[:12], cards[12:]
    )


def recipient(i: int) -> Recipient:
    return Recipient(
        f"Reader{i}",
        f"reader{i}@example.com",
        "",
        f"https://news.example.com/u/token{i}",
        f"https://news.example.com/p/token{i}",
        f"https://news.example.com/v/token{i}",
    )


def ours(issue: IssueContent, n: int) -> tuple[float, int, float]:
    start = time.perf_counter()
    variant = render_variant(issue, 0, BRAND)
    template = MessageTemplate.prepare(
        variant, from_address=FROM, list_id=LIST_ID, feedback_id="2026-W48:digest:x"
    )
    once = time.perf_counter() - start
    now = datetime.now(UTC)
    start = time.perf_counter()
    size = 0
    for i in range(n):
        size = len(
            template.build(
                recipient(i),
                to_name=f"Reader {i}",
                message_id=f"<nl.2026-W48.1.{i}@x>",
                date=now,
                unsubscribe_mailto="u@x",
            )
        )
    return n / (time.perf_counter() - start), size, once


def baseline(issue: IssueContent, n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        variant = render_variant(issue, 0, BRAND)
        html, text = personalize(variant.html, variant.text, recipient(i), variant.nonce)
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = FROM, f"reader{i}@x", variant.subject
        message.set_content(text, cte="quoted-printable")
        message.add_alternative(html, subtype="html", cte="quoted-printable")
        message.as_bytes()
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=5000)
    parser.add_argument("--baseline", type=int, default=100)
    args = parser.parse_args()
    issue = content()
    rate, size, once = ours(issue, args.recipients)
    tracemalloc.start()  # a separate, shorter pass: tracing slows everything down
    ours(issue, 500)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    base = baseline(issue, args.baseline)
    print(f"message size            {size / 1024:.1f} KiB")
    print(f"render+inline once      {once * 1000:.0f} ms per variant")
    print(
        f"ours (render once)      {rate:,.0f} msg/s over {args.recipients} recipients, "
        f"peak {peak / 2**20:.1f} MiB traced over 500"
    )
    print(f"baseline (per message)  {base:,.0f} msg/s over {args.baseline} recipients")
    print(f"ratio                   {rate / base:.1f}x")


if __name__ == "__main__":
    main()
