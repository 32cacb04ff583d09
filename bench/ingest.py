"""Ingest throughput: a WordPress feed and review pages into SQLite and PostgreSQL.

Floor: ``feedparser.parse`` alone on the feed's bytes (best of ``--floor-runs``), the part of
feed ingest no code of ours can make faster; shown also with the flags ingest passes
(``sanitize_html=False, resolve_relative_uris=False``), the strictest floor.
Ours, on a fresh database of each backend: ``ingest_sources`` on the feed (read,
parse, review box, normalize, upsert in one transaction), the same feed again (every item
unchanged), then the pages in one call (one transaction each). The inputs are generated into a
temporary folder first, untimed: WordPress-style RSS 2.0 items of about 2.9 KB with a WP Review
box in ``content:encoded``, and pages of about 24 KB with Yoast JSON-LD, a separate ``Review``
JSON-LD, a nav menu, a trending strip, related posts and a sidebar.

Every stage runs in a spawned process of its own; its peak RSS is that process's high-water
mark (``VmHWM``: ``ru_maxrss`` carries the parent's peak over fork+exec on Linux and would mix
the figures). No tracemalloc: tracing slows feedparser several times over. Prints items per
second, peak RSS and the ratio ours/floor. The database named in ``--pg-url`` is dropped and
created again on every run.

    .venv/bin/python bench/ingest.py [--items 10000] [--pages 2000] [--floor-runs 1]
        [--pg-url URL] [--no-pg] [--keep] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import random
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from multiprocessing import get_context
from pathlib import Path
from typing import ParamSpec, TypeVar

import feedparser
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from newsletter.config import Settings
from newsletter.db import make_engine, session_factory, upgrade
from newsletter.ingest import ingest_sources
from newsletter.models import Review

SITE = "https://reviews.example.com"
CDN = "https://cdn.example.com/wp-content/uploads"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/newsletter_bench"
SYSTEM_DATABASES = frozenset({"postgres", "template0", "template1"})
START = datetime(2025, 8, 8, 13, 0, tzinfo=UTC)

# (section category, sub-categories that map onto it)
CATEGORIES = (
    ("Film", ("Movies",)),
    ("TV", ("Television", "K-Dramas", "Apple TV+")),
    ("Anime", ("Crunchyroll",)),
    ("Comics", ("Marvel Comics", "Image Comics", "DC Comics", "BOOM! Studios")),
    ("Video Games", ("PS5", "PC", "Nintendo Switch", "Xbox Series X/S")),
    ("Tabletop", ("Board Games", "TTRPG")),
)
AUTHORS = (
    "Devon Achterberg",
    "Allyson Johnson",
    "William Tucker",
    "Will Borger",
    "Théo Marchand",
    "Jordan Blake",
    "Priya Raman",
    "Jo Park",
)
VOCABULARY = (
    "the film season episode story character arc director writer cast performance score "
    "soundtrack pacing tension mystery horror comedy drama action spectacle world building "
    "dialogue premise twist finale chapter series issue panel artist colorist inker lettering "
    "cover page spread combat level boss quest map controller frame rate texture lighting "
    "camera shot editing runtime sequel prequel franchise adaptation source material fans "
    "newcomers audience critic moment scene beat rhythm tone mood atmosphere setting city town "
    "manor forest station ship crew hero villain rival mentor family friend secret lie truth "
    "memory dream fear hope grief joy anger wonder strange quiet loud bright dark slow fast "
    "clever messy bold careful generous patient restless confident uneven sharp warm cold "
    "lovely brutal gentle funny sad weird familiar surprising predictable ambitious modest "
    "carries builds breaks lands earns wastes rushes lingers reveals hides trusts asks answers"
)
WORDS = VOCABULARY.split()


# -- generated inputs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Post:
    url: str
    title: str  # HTML text: entities such as &#8217;
    name: str  # the reviewed work, plain text
    section: str
    categories: tuple[str, ...]
    author: str
    published: datetime
    score: float
    tldr: str
    image: str
    post_id: int


def sentence(rng: random.Random, low: int = 10, high: int = 22) -> str:
    words = rng.choices(WORDS, k=rng.randint(low, high))
    if rng.random() < 0.3:
        words[rng.randrange(len(words))] = "it&#8217;s"
    if rng.random() < 0.2:
        at = rng.randrange(len(words))
        words[at] = f"<em>{words[at]}</em>"
    return " ".join(words).capitalize() + rng.choice((".", ".", ".", "!", "?"))


def paragraph(rng: random.Random, sentences: int) -> str:
    return "<p>" + " ".join(sentence(rng) for _ in range(sentences)) + "</p>"


def make_post(rng: random.Random, number: int, kind: str) -> Post:
    name = " ".join(w.capitalize() for w in rng.choices(WORDS, k=rng.randint(1, 3)))
    slug = name.lower().replace(" ", "-")
    section, subs = rng.choice(CATEGORIES)
    picked = ["Reviews", section, *rng.sample(subs, k=min(len(subs), rng.randint(0, 1)))]
    rng.shuffle(picked)
    phrase = " ".join(w.capitalize() for w in rng.choices(WORDS, k=rng.randint(3, 6)))
    title = rng.choice(
        (
            f"REVIEW: &#8216;{name}&#8217; Is {phrase}",
            f"REVIEW: &#8216;{name}&#8217; Episode {number % 12 + 1} "
            f"&#8211; &#8220;{phrase}&#8221;",
            f"&#8216;{name}&#8217; Review: It&#8217;s {phrase} &amp; More",
        )
    )
    post_id = 100_000 + number * 3 + (1 if kind == "p" else 0)
    published = START - timedelta(minutes=41 * number)
    return Post(
        url=f"{SITE}/review-{slug}-{kind}{number}/",
        title=title,
        name=name,
        section=section,
        categories=tuple(picked[:3]),
        author=rng.choice(AUTHORS),
        published=published,
        score=rng.randint(8, 19) / 2,
        tldr=sentence(rng, 18, 32),
        image=f"{CDN}/{published:%Y/%m}/{slug}-{kind}{number}.jpg",
        post_id=post_id,
    )


def review_box(post: Post) -> str:
    score = f"{post.score:g}/10"
    return f"""<div id="review" class="review-wrapper wp-review-{post.post_id} wp-review-point-type wp-review-default-template" >
	<div class="review-heading">
		<h5 class="review-title">{post.name}</h5>
	</div>
	<ul class="review-list">
		<li>
			<div class="wp-review-point-type-bar">
				<div class="review-result-wrapper"><div class="review-result" style="width:{post.score * 10:g}%;"></div></div>
				<span class="review-point-label">{score}</span>
			</div>
			<span>Rating - {score}</span>
		</li>
	</ul>
	<div class="review-total-wrapper">
		<div class="review-total-box">{score}</div>
	</div>
	<div class="review-desc">
		<p class="review-summary-title"><strong>TL;DR</strong></p>
		<p>{post.tldr}</p>
	</div>
</div>"""  # noqa: E501


def feed_item(rng: random.Random, post: Post) -> str:
    excerpt = sentence(rng, 16, 26)
    appeared = (
        f'<p>The post <a href="{post.url}">{post.title}</a> appeared first on '
        f'<a href="{SITE}">Example Reviews</a>.</p>'
    )
    body = "\n".join(paragraph(rng, rng.randint(1, 2)) for _ in range(rng.randint(2, 3)))
    figure = (
        '<figure class="wp-block-image size-large"><img decoding="async" loading="lazy" '
        f'width="1024" height="576" src="{post.image[:-4]}-still-2-1024x576.jpg" '
        f'alt="A still from {post.name}" class="wp-image-{post.post_id + 2}" /></figure>\n'
        if rng.random() < 0.5
        else ""
    )
    categories = "\n".join(f"\t\t<category><![CDATA[{c}]]></category>" for c in post.categories)
    return f"""	<item>
		<title>{post.title}</title>
		<link>{post.url}</link>
		<comments>{post.url}#respond</comments>
		<dc:creator><![CDATA[{post.author}]]></dc:creator>
		<pubDate>{format_datetime(post.published)}</pubDate>
{categories}
		<guid isPermaLink="false">{SITE}/?p={post.post_id}</guid>
		<description><![CDATA[<p>{excerpt} [&#8230;]</p>
{appeared}
]]></description>
		<content:encoded><![CDATA[{body}
{figure}{review_box(post)}
{appeared}
]]></content:encoded>
		<slash:comments>0</slash:comments>
		<media:content url="{post.image}" medium="image" width="1200" height="675" />
	</item>
"""


def make_feed(rng: random.Random, posts: list[Post]) -> str:
    head = f"""<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"
	xmlns:content="http://purl.org/rss/1.0/modules/content/"
	xmlns:wfw="http://wellformedweb.org/CommentAPI/"
	xmlns:dc="http://purl.org/dc/elements/1.1/"
	xmlns:atom="http://www.w3.org/2005/Atom"
	xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"
	xmlns:slash="http://purl.org/rss/1.0/modules/slash/"
	xmlns:media="http://search.yahoo.com/mrss/"
	>
<channel>
	<title>Example Reviews</title>
	<atom:link href="{SITE}/feed/" rel="self" type="application/rss+xml" />
	<link>{SITE}/</link>
	<description>Reviews, news, and features about film, TV, anime, comics, and games</description>
	<lastBuildDate>{format_datetime(START)}</lastBuildDate>
	<language>en-US</language>
	<generator>https://wordpress.org/?v=6.8.2</generator>
"""
    items = "".join(feed_item(rng, post) for post in posts)
    return head + items + "</channel>\n</rss>\n"


def post_card(post: Post) -> str:
    return f"""<article class="post-card">
  <a class="post-thumb" href="{post.url}"><img loading="lazy" src="{post.image[:-4]}-300x169.jpg" alt="{post.name}" width="300" height="169"></a>
  <div class="review-type-point review-badge wp-review-show-total wp-review-total-{post.post_id} wp-review-total-point"><span class="review-total-box">{post.score:.1f}</span></div>
  <span class="post-cat">{post.section}</span>
  <h3 class="post-card-title"><a href="{post.url}">{post.title}</a></h3>
  <div class="post-card-meta">By <span class="author">{post.author}</span><time datetime="{post.published.isoformat()}">{post.published:%m/%d/%Y}</time></div>
</article>
"""  # noqa: E501


def plain(title: str) -> str:
    for entity, char in (("&#8216;", "‘"), ("&#8217;", "’"), ("&#8220;", "“"), ("&#8221;", "”")):
        title = title.replace(entity, char)
    return title.replace("&#8211;", "–").replace("&amp;", "&")


def json_ld(post: Post, description: str) -> tuple[str, str]:
    """Yoast's ``@graph`` and the review plugin's separate ``Review`` block."""
    headline = plain(post.title)
    person = f"{SITE}/#/schema/person/{post.author.lower().replace(' ', '-')}"
    published = post.published.isoformat()
    graph = {
        "@context": "https://schema.org",
        "@graph": [
            {
                "@type": "Article",
                "@id": f"{post.url}#article",
                "isPartOf": {"@id": post.url},
                "author": {"name": post.author, "@id": person},
                "headline": headline,
                "datePublished": published,
                "dateModified": published,
                "mainEntityOfPage": {"@id": post.url},
                "wordCount": 640,
                "publisher": {"@id": f"{SITE}/#organization"},
                "image": {"@id": f"{post.url}#primaryimage"},
                "thumbnailUrl": post.image,
                "articleSection": list(post.categories),
                "inLanguage": "en-US",
            },
            {
                "@type": "WebPage",
                "@id": post.url,
                "url": post.url,
                "name": f"{headline} - Example Reviews",
                "description": description,
                "isPartOf": {"@id": f"{SITE}/#website"},
                "datePublished": published,
                "breadcrumb": {"@id": f"{post.url}#breadcrumb"},
                "inLanguage": "en-US",
            },
            {
                "@type": "ImageObject",
                "@id": f"{post.url}#primaryimage",
                "url": post.image,
                "contentUrl": post.image,
                "width": 1200,
                "height": 675,
            },
            {
                "@type": "BreadcrumbList",
                "@id": f"{post.url}#breadcrumb",
                "itemListElement": [
                    {"@type": "ListItem", "position": 1, "name": "Home", "item": f"{SITE}/"},
                    {"@type": "ListItem", "position": 2, "name": post.section},
                    {"@type": "ListItem", "position": 3, "name": headline},
                ],
            },
            {
                "@type": "WebSite",
                "@id": f"{SITE}/#website",
                "url": f"{SITE}/",
                "name": "Example Reviews",
            },
            {
                "@type": "Organization",
                "@id": f"{SITE}/#organization",
                "name": "Example Reviews",
                "logo": {"@type": "ImageObject", "url": f"{CDN}/2024/01/logo.png"},
            },
            {"@type": "Person", "@id": person, "name": post.author},
        ],
    }
    review = {
        "@context": "https://schema.org",
        "@type": "Review",
        "name": headline,
        "itemReviewed": {"@type": "CreativeWork", "name": post.name, "image": post.image},
        "author": {"@type": "Person", "name": post.author},
        "datePublished": f"{post.published:%Y-%m-%d}",
        "reviewBody": post.tldr,
        "reviewRating": {"@type": "Rating", "ratingValue": f"{post.score:g}", "bestRating": "10"},
    }
    return json.dumps(graph, ensure_ascii=False), json.dumps(review, ensure_ascii=False)


NAV = (
    '<nav id="site-navigation" class="main-navigation" aria-label="Primary">\n'
    '<button class="menu-toggle" aria-controls="primary-menu" aria-expanded="false">Menu</button>\n'
    '<ul id="primary-menu" class="menu">\n'
    + "".join(
        f'<li class="menu-item"><a href="{SITE}/category/{n.lower()}/">{n}</a></li>\n'
        for n in ("News", "Features", "Interviews")
    )
    + f'<li class="menu-item menu-item-has-children"><a href="{SITE}/category/reviews/">Reviews'
    '</a>\n<ul class="sub-menu">\n'
    + "".join(
        f'<li class="menu-item"><a href="{SITE}/category/reviews/{s.lower().replace(" ", "-")}/">'
        f'{s}</a>\n<ul class="sub-menu">\n'
        + "".join(
            f'<li><a href="{SITE}/category/reviews/{c.lower().replace(" ", "-")}/">{c}</a></li>\n'
            for c in subs
        )
        + "</ul></li>\n"
        for s, subs in CATEGORIES
    )
    + "</ul></li>\n"
    + f'<li class="menu-item"><a href="{SITE}/podcast/">Podcast</a></li>\n'
    + f'<li class="menu-item"><a href="{SITE}/feeds/">RSS Feeds</a></li>\n</ul>\n</nav>\n'
)
FOOTER = f"""<footer id="colophon" class="site-footer">
  <div class="footer-social"><a href="{SITE}/feed/">RSS</a> <a href="https://www.facebook.example/examplereviews">Facebook</a> <a href="https://x.example/examplereviews">X (Twitter)</a></div>
  <ul class="footer-menu"><li><a href="{SITE}/contact/">Contact</a></li><li><a href="{SITE}/about/">Who We Are</a></li><li><a href="{SITE}/privacy-policy/">Privacy</a></li><li><a href="{SITE}/how-we-score/">How We Score</a></li></ul>
  <p class="copyright">Copyright &copy; 2025 Example Reviews. All rights reserved.</p>
</footer>
<script src='{SITE}/wp-content/plugins/wp-review/public/js/main.js?ver=5.3.5' id='wp_review-js-js'></script>
</body>
</html>
"""  # noqa: E501


def share_bar(post: Post) -> str:
    quoted = post.url.replace(":", "%3A").replace("/", "%2F")
    return (
        '<div class="share-bar"><span class="share-label">Share</span>\n'
        + "".join(
            f'<a class="share-{n}" href="https://{n}.example/share?u={quoted}" rel="noopener" '
            f'target="_blank">{n.capitalize()}</a>\n'
            for n in ("facebook", "x", "reddit")
        )
        + "</div>\n"
    )


def sidebar(rng: random.Random, others: list[Post]) -> str:
    recent = "".join(
        f'<li><a href="{p.url}">{p.title}</a><span class="post-date">'
        f"{p.published:%B %d, %Y}</span></li>\n"
        for p in rng.sample(others, 6)
    )
    top = "".join(
        f'<li><a href="{p.url}">{p.title}</a><span class="review-total-box">{p.score:g}/10'
        "</span></li>\n"
        for p in rng.sample(others, 5)
    )
    cats = "".join(
        f'<li class="cat-item"><a href="{SITE}/category/{s.lower().replace(" ", "-")}/">{s}</a> '
        f"({rng.randint(40, 900)})</li>\n"
        for s, _ in CATEGORIES
    )
    return (
        '<aside id="secondary" class="widget-area">\n'
        '<section class="widget widget_recent_entries"><h2 class="widget-title">Recent Posts'
        f"</h2><ul>\n{recent}</ul></section>\n"
        '<section class="widget widget_top_rated"><h2 class="widget-title">Top Rated</h2><ul>\n'
        f"{top}</ul></section>\n"
        '<section class="widget widget_categories"><h2 class="widget-title">Categories</h2><ul>\n'
        f"{cats}</ul></section>\n</aside>\n"
    )


def make_page(rng: random.Random, post: Post, others: list[Post]) -> str:
    description = sentence(rng, 18, 28)
    graph, review = json_ld(post, description)
    headline = plain(post.title)
    paragraphs = [paragraph(rng, rng.randint(2, 4)) for _ in range(rng.randint(6, 8))]
    paragraphs.insert(
        3,
        '<figure class="wp-block-image size-large"><img decoding="async" loading="lazy" '
        f'width="1024" height="576" src="{post.image[:-4]}-still-2-1024x576.jpg" '
        f'alt="A still from {post.name}" class="wp-image-{post.post_id + 2}" /></figure>',
    )
    published = post.published.isoformat()
    trending = "".join(post_card(p) for p in rng.sample(others, 4))
    related = "".join(post_card(p) for p in rng.sample(others, 3))
    section_slug = post.section.lower().replace(" ", "-")
    cats = "".join(
        f'<a href="{SITE}/category/{c.lower().replace(" ", "-")}/" rel="category tag">{c}</a> '
        for c in post.categories
    )
    return f"""<!DOCTYPE html>
<html lang="en-US" prefix="og: https://ogp.me/ns#">
<head>
<meta charset="UTF-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{post.title} | Example Reviews</title>
<meta name="robots" content="index, follow, max-image-preview:large, max-snippet:-1" />
<link rel="canonical" href="{post.url}" />
<meta property="og:locale" content="en_US" />
<meta property="og:type" content="article" />
<meta property="og:title" content="{headline} - Example Reviews" />
<meta property="og:description" content="{description}" />
<meta property="og:url" content="{post.url}" />
<meta property="og:site_name" content="Example Reviews" />
<meta property="article:published_time" content="{published}" />
<meta property="article:modified_time" content="{published}" />
<meta property="article:section" content="{post.section}" />
<meta property="og:image" content="{post.image}" />
<meta property="og:image:width" content="1200" />
<meta property="og:image:height" content="675" />
<meta name="author" content="{post.author}" />
<meta name="twitter:card" content="summary_large_image" />
<script type="application/ld+json" class="yoast-schema-graph">{graph}</script>
<script type="application/ld+json">{review}</script>
<link rel="alternate" type="application/rss+xml" title="Example Reviews &raquo; Feed" href="{SITE}/feed/" />
<link rel='stylesheet' id='wp-review-css' href='{SITE}/wp-content/plugins/wp-review/public/css/wp-review.css?ver=5.3.5' media='all' />
<script>window.dataLayer=window.dataLayer||[];function gtag(){{dataLayer.push(arguments);}}gtag('js',new Date());</script>
</head>
<body class="post-template-default single single-post postid-{post.post_id} single-format-standard">
<header id="masthead" class="site-header">
<div class="site-branding"><a href="{SITE}/" rel="home"><img src="{CDN}/2024/01/logo.png" alt="Example Reviews" width="220" height="60"></a></div>
{NAV}<div class="header-trending" aria-label="Trending">
<span class="trending-label">Trending:</span>
<div class="trending-mega">
{trending}</div>
</div>
</header>
<div id="content" class="site-content">
<main id="primary" class="site-main">
<nav class="breadcrumbs" aria-label="Breadcrumb"><a href="{SITE}/">Home</a> &raquo; <a href="{SITE}/category/{section_slug}/">{post.section}</a> &raquo; <span class="breadcrumb_last">{post.title}</span></nav>
<article id="post-{post.post_id}" class="post-{post.post_id} post type-post status-publish format-standard has-post-thumbnail hentry">
<header class="entry-header">
<div class="entry-cats">{cats}</div>
<h1 class="entry-title">{post.title}</h1>
<div class="entry-meta"><span class="byline">By <a class="url fn n" href="{SITE}/author/{post.author.lower().replace(" ", "-")}/" rel="author">{post.author}</a></span><time class="entry-date published" datetime="{published}">{post.published:%m/%d/%Y}</time><span class="reading-time">4 Mins Read</span></div>
</header>
<div class="post-thumbnail"><img width="1200" height="675" src="{post.image}" class="attachment-full size-full wp-post-image" alt="{post.name}" decoding="async" fetchpriority="high" /></div>
{share_bar(post)}<div class="entry-content">
{chr(10).join(paragraphs)}
{review_box(post)}
</div>
<footer class="entry-footer">
{share_bar(post)}</footer>
</article>
<section class="related-posts"><h2>Related Posts</h2>
{related}</section>
</main>
{sidebar(rng, others)}</div>
{FOOTER}"""  # noqa: E501


@dataclass(frozen=True)
class Inputs:
    feed: Path
    pages: list[Path]


def generate(folder: Path, items: int, pages: int, seed: int = 20251127) -> Inputs:
    rng = random.Random(seed)
    posts = [make_post(rng, i, "f") for i in range(items)]
    feed = folder / "reviews.rss.xml"
    feed.write_text(make_feed(rng, posts), encoding="utf-8")
    others = posts[:200] if len(posts) >= 20 else [make_post(rng, i, "o") for i in range(20)]
    page_dir = folder / "pages"
    page_dir.mkdir()
    paths: list[Path] = []
    for i in range(pages):
        post = make_post(rng, i, "p")
        path = page_dir / f"{post.url.rstrip('/').rsplit('/', 1)[1]}.html"
        path.write_text(make_page(rng, post, others), encoding="utf-8")
        paths.append(path)
    return Inputs(feed, paths)


# -- measurement (each stage in a spawned process) ------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    label: str
    items: int
    seconds: float
    rss_mib: float
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    rejections: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    rows: int = 0  # review rows stored after the stage
    complete: int = 0  # ... of which have a score and a TL;DR

    @property
    def rate(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0


def peak_rss_mib() -> float:
    """This process's peak resident set size. ``VmHWM`` belongs to the process's own memory
    map; ``ru_maxrss`` (KiB on Linux) is used only where ``/proc`` is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def floor_stage(feed: str, runs: int, sanitize: bool) -> Outcome:
    """``feedparser.parse`` alone: as called plainly, or the way ``parse_feed`` calls it
    (``sanitize_html=False, resolve_relative_uris=False``: the content is parsed again with
    lxml for its text, and the links we keep are resolved by us)."""
    data = Path(feed).read_bytes()
    best, count = float("inf"), 0
    for _ in range(runs):
        start = time.perf_counter()
        result = (
            feedparser.parse(data)
            if sanitize
            else feedparser.parse(data, sanitize_html=False, resolve_relative_uris=False)
        )
        best = min(best, time.perf_counter() - start)
        count = len(result.entries)
        del result
    label = "floor: feedparser.parse" if sanitize else "  same, as ingest calls it"
    return Outcome(label, count, best, peak_rss_mib())


def ingest_stage(label: str, database_url: str, sources: list[str], items: int) -> Outcome:
    settings = Settings(database_url=database_url)
    engine = make_engine(settings)
    factory = session_factory(engine)
    start = time.perf_counter()
    reports = ingest_sources(factory, sources, settings.site_url)
    seconds = time.perf_counter() - start
    rss = peak_rss_mib()
    with factory() as session:
        rows = session.scalar(select(func.count()).select_from(Review)) or 0
        complete = (
            session.scalar(
                select(func.count())
                .select_from(Review)
                .where(Review.score.is_not(None), Review.tldr.is_not(None))
            )
            or 0
        )
    engine.dispose()
    return Outcome(
        label,
        items,
        seconds,
        rss,
        new=sum(r.counts.new for r in reports),
        updated=sum(r.counts.updated for r in reports),
        unchanged=sum(r.counts.unchanged for r in reports),
        rejections=tuple(f"{r.source}: {j}" for r in reports for j in r.rejections),
        errors=tuple(f"{r.error} (exit {r.exit_code})" for r in reports if r.error),
        rows=rows,
        complete=complete,
    )


def profile_stage(database_url: str, feed: str, top: int) -> str:
    settings = Settings(database_url=database_url)
    engine = make_engine(settings)
    factory = session_factory(engine)
    profiler = cProfile.Profile()
    profiler.enable()
    ingest_sources(factory, [feed], settings.site_url)
    profiler.disable()
    engine.dispose()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


P = ParamSpec("P")
T = TypeVar("T")


def in_child(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run ``fn`` in a fresh spawned interpreter, so that its memory peak is its own."""
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return pool.submit(fn, *args, **kwargs).result()


# -- databases --------------------------------------------------------------------------------


def fresh_sqlite(folder: Path, name: str) -> str:
    url = f"sqlite:///{folder / name}"
    engine = make_engine(Settings(database_url=url))
    upgrade(engine)
    engine.dispose()
    return url


def fresh_postgres(url: str) -> str | None:
    """Drop and create the database of ``url``, then migrate it; the reason when it cannot."""
    try:
        target = make_url(url)
        name = target.database
        if not name or name in SYSTEM_DATABASES:
            return f"refusing to drop and recreate database {name!r}"
        admin = create_engine(
            target.set(database="postgres"),
            isolation_level="AUTOCOMMIT",
            connect_args={"connect_timeout": 5},
        )
    except Exception as exc:  # no driver, unparsable URL
        return f"{type(exc).__name__}: {exc}"
    try:
        with admin.connect() as connection:
            quoted = admin.dialect.identifier_preparer.quote(name)
            connection.execute(text(f"DROP DATABASE IF EXISTS {quoted}"))
            connection.execute(text(f"CREATE DATABASE {quoted}"))
        engine = make_engine(Settings(database_url=url))
        upgrade(engine)
        engine.dispose()
    except Exception as exc:  # unreachable, refused, no such role...
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        return f"{type(exc).__name__}: {first[0].strip(chr(39)) if first else exc!r}"
    finally:
        admin.dispose()
    return None


# -- report -----------------------------------------------------------------------------------


@dataclass
class Backend:
    name: str
    url: str | None
    skipped: str | None = None
    stages: list[Outcome] = field(default_factory=list)


def run_backend(backend: Backend, inputs: Inputs, items: int) -> None:
    assert backend.url is not None
    feed, pages = str(inputs.feed), [str(p) for p in inputs.pages]
    plan = (
        (f"{backend.name} feed ingest", [feed], items),
        (f"{backend.name} feed re-ingest", [feed], items),
        (f"{backend.name} pages ingest", pages, len(pages)),
    )
    for label, sources, count in plan:
        print(f"  {label} ...", flush=True)
        backend.stages.append(in_child(ingest_stage, label, backend.url, sources, count))


def check_line(stage: Outcome) -> str:
    line = (
        f"  {stage.label:<28} new {stage.new}, updated {stage.updated}, unchanged "
        f"{stage.unchanged}; {len(stage.rejections)} rejected; {len(stage.errors)} source "
        f"errors; {stage.rows} rows stored, {stage.complete} with score and TL;DR"
    )
    for message in [*stage.errors[:5], *stage.rejections[:5]]:
        line += f"\n      {message}"
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000, help="items in the feed")
    parser.add_argument("--pages", type=int, default=2_000, help="review pages")
    parser.add_argument("--floor-runs", type=int, default=1, help="feedparser runs (best of)")
    parser.add_argument(
        "--pg-url", default=DEFAULT_PG, help="dropped and created again on every run"
    )
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile a SQLite feed ingest (extra run)"
    )
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        start = time.perf_counter()
        inputs = generate(folder, args.items, args.pages)
        feed_size = inputs.feed.stat().st_size
        page_size = sum(p.stat().st_size for p in inputs.pages)
        print(
            f"inputs        {folder} (generated in {time.perf_counter() - start:.1f} s)\n"
            f"  feed        {args.items} items, {feed_size / 2**20:.1f} MiB, "
            f"{feed_size / max(args.items, 1) / 1024:.2f} KiB per item\n"
            f"  pages       {args.pages} pages, {page_size / 2**20:.1f} MiB, "
            f"{page_size / max(args.pages, 1) / 1024:.1f} KiB per page",
            flush=True,
        )

        print("floor: feedparser.parse ...", flush=True)
        floor = in_child(floor_stage, str(inputs.feed), args.floor_runs, True)
        unsanitized = in_child(floor_stage, str(inputs.feed), args.floor_runs, False)

        backends = [Backend("sqlite", fresh_sqlite(folder, "bench.db"))]
        if args.no_pg:
            backends.append(Backend("postgresql", None, "--no-pg"))
        else:
            reason = fresh_postgres(args.pg_url)
            backends.append(Backend("postgresql", None if reason else args.pg_url, reason))
        for backend in backends:
            if backend.url is None:
                print(f"skipping {backend.name}: {backend.skipped}", flush=True)
                continue
            run_backend(backend, inputs, args.items)

        profile = ""
        if args.profile:
            print("profiling a SQLite feed ingest ...", flush=True)
            profile = in_child(
                profile_stage, fresh_sqlite(folder, "profile.db"), str(inputs.feed), 25
            )
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)

    rows = [floor, unsanitized, *(s for b in backends for s in b.stages)]
    print()
    print(f"{'stage':<28} {'items':>7} {'seconds':>9} {'items/s':>9} {'peak RSS':>12}")
    for stage in rows:
        print(
            f"{stage.label:<28} {stage.items:>7} {stage.seconds:>9.2f} {stage.rate:>9,.0f} "
            f"{stage.rss_mib:>8.1f} MiB"
        )
    for backend in backends:
        if backend.skipped:
            print(f"{backend.name + ' (skipped)':<28} {backend.skipped}")
    print()
    print("counts")
    for backend in backends:
        for stage in backend.stages:
            print(check_line(stage))
    print()
    for backend in backends:
        for stage in backend.stages[:2]:
            print(
                f"{stage.label} runs at {stage.rate / floor.rate:.2f}x feedparser alone "
                f"({stage.rate:,.0f} vs {floor.rate:,.0f} items/s; "
                f"{stage.rate / unsanitized.rate:.2f}x feedparser called as ingest calls it)"
            )
    if profile:
        print()
        print(profile)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
