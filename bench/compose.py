"""Per-recipient cost of a composed digest: render once per variant vs render per recipient.

A 10-review issue (7 new, 3 trending, across the six sections) for ``--recipients`` subscribers
spread over 6 variants (each a different set of sections). Ours: each variant is rendered and
inlined once; then each recipient costs a substitution, two quoted-printable encodings and a
few headers (``MessageTemplate.build``) on its variant. Baseline, in the same run, on a sample:
what a naive sender does per recipient (Jinja render, premailer, ``EmailMessage`` and
``as_bytes``), the way django-newsletter works. Prints the per-message time of both, the
ratio, and whether the targets hold (at least 200x, under 0.2 ms per recipient).

    .venv/bin/python bench/compose.py [--recipients 10000] [--baseline 100]
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
from newsletter.compose.render import RenderedVariant, render_variant
from newsletter.compose.tracking import track
from newsletter.sections import mask_of

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
        for i in range(10)
    ]
    return IssueContent(
        1, "2026-W48", None, None, "Hello.", date(2026, 11, 27), cards[:7], cards[7:]
    )


# Six variants: every section, then five narrower picks, as subscribers' preferences make them.
MASKS = [
    0,
    mask_of(["Film"]),
    mask_of(["Film", "TV"]),
    mask_of(["Anime"]),
    mask_of(["Comics", "Tabletop"]),
    mask_of(["Video Games", "Anime", "TV"]),
]


def recipient(i: int) -> Recipient:
    return Recipient(
        f"Reader{i}",
        f"reader{i}@example.com",
        "",
        f"https://news.example.com/u/token{i}",
        f"https://news.example.com/p/token{i}",
        f"https://news.example.com/v/token{i}",
        f"Y2xpY2s6MS4{i:08d}.aWRlbnRpY2FsLXNpZ25hdHVyZQ",  # a click token's size
    )


def variant(issue: IssueContent, mask: int) -> RenderedVariant:
    """A variant as fan-out stores it: rendered, inlined, its links through the redirect."""
    return track(
        render_variant(issue, mask, BRAND),
        "https://news.example.com",
        lambda url: "bGluazoxMjM.c2lnbmF0dXJlLW9mLWxpbms",
    )


def ours(issue: IssueContent, n: int) -> tuple[float, int, float]:
    """(seconds per recipient, bytes of the last message, seconds to render all variants)."""
    start = time.perf_counter()
    templates = [
        MessageTemplate.prepare(
            variant(issue, mask),
            from_address=FROM,
            list_id=LIST_ID,
            feedback_id="2026-W48:digest:x",
        )
        for mask in MASKS
    ]
    once = time.perf_counter() - start
    now = datetime.now(UTC)
    start = time.perf_counter()
    size = 0
    for i in range(n):
        size = len(
            templates[i % len(templates)].build(
                recipient(i),
                to_name=f"Reader {i}",
                message_id=f"<nl.2026-W48.1.{i}@x>",
                date=now,
                unsubscribe_mailto="u@x",
            )
        )
    return (time.perf_counter() - start) / n, size, once


def baseline(issue: IssueContent, n: int) -> float:
    """Seconds per recipient when every message is rendered, inlined and built anew."""
    start = time.perf_counter()
    for i in range(n):
        rendered = variant(issue, MASKS[i % len(MASKS)])
        html, text = personalize(rendered.html, rendered.text, recipient(i), rendered.nonce)
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = FROM, f"reader{i}@x", rendered.subject
        message.set_content(text, cte="quoted-printable")
        message.add_alternative(html, subtype="html", cte="quoted-printable")
        message.as_bytes()
    return (time.perf_counter() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--baseline", type=int, default=100, help="sample size of the baseline")
    args = parser.parse_args()
    issue = content()
    per, size, once = ours(issue, args.recipients)
    tracemalloc.start()  # a separate, shorter pass: tracing slows everything down
    ours(issue, 500)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    base = baseline(issue, args.baseline)
    total = once + per * args.recipients
    print(
        f"issue                   10 reviews, {len(MASKS)} variants, "
        f"last message {size / 1024:.1f} KiB"
    )
    print(f"render+inline           {once * 1000:.0f} ms for all {len(MASKS)} variants, once")
    print(
        f"ours per recipient      {per * 1000:.4f} ms ({1 / per:,.0f} msg/s) over "
        f"{args.recipients:,} recipients; peak {peak / 2**20:.1f} MiB traced over 500"
    )
    print(
        f"ours, all-in            {total:.2f} s for {args.recipients:,} messages "
        f"({total / args.recipients * 1000:.4f} ms each, rendering included)"
    )
    print(
        f"baseline per recipient  {base * 1000:.1f} ms ({1 / base:,.0f} msg/s) "
        f"over a sample of {args.baseline}"
    )
    print(f"ratio                   {base / per:,.0f}x")
    print(
        f"targets                 >= 200x: {'met' if base / per >= 200 else 'MISSED'}; "
        f"< 0.2 ms per recipient: {'met' if per < 0.0002 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
