"""Small source documents for ingest tests: an RSS feed and WordPress posts of a test site."""

from __future__ import annotations

SITE = "https://critics.example.org/"


def rss(*slugs: str, title: str = "Critics") -> bytes:
    items = "".join(
        f"<item><title>REVIEW: {s.title()}</title><link>{SITE}{s}/</link>"
        f"<dc:creator>Ana Ruiz</dc:creator><pubDate>Fri, 20 Nov 2026 14:00:00 +0000</pubDate>"
        f"<category>Film</category><content:encoded><![CDATA[<p>Body.</p>"
        f"<p><strong>Rating: 7/10</strong></p>]]></content:encoded></item>"
        for s in slugs
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<channel><title>{title}</title><link>{SITE}</link>{items}</channel></rss>"
    ).encode()


def wp_post(number: int) -> dict[str, object]:
    return {
        "id": number,
        "link": f"{SITE}review-post-{number}/",
        "date_gmt": f"2026-11-{10 + number:02d}T15:00:00",
        "title": {"rendered": f"REVIEW: Post {number}"},
        "content": {"rendered": "<p>Text.</p><p>TL;DR: Worth it.</p>"},
        "excerpt": {"rendered": "<p>Text.</p>"},
        "_embedded": {
            "author": [{"name": "Ana Ruiz"}],
            "wp:term": [[{"taxonomy": "category", "name": "Anime"}], []],
        },
    }
