"""Review HTML pages into review records: read the article, not the page around it.

Sources of each fact, in order of trust: JSON-LD (a ``Review`` with ``reviewRating``,
``itemReviewed``, ``author``, ``datePublished``; an ``Article`` inside Yoast's ``@graph``),
schema.org microdata, Open Graph and ``article:*`` meta tags, the review-box plugin markup in
the article body, then plain-text patterns. A full timestamp beats a date-only one (a
``Review``'s ``datePublished`` is often just the day). Menus, related posts and sidebars carry
other posts' titles and scores; only the article element is read for body facts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from newsletter.ingest.html import HtmlElement, byline, has_class, parse_document, text_of
from newsletter.ingest.normalize import ItemRejected, make_record, plain_text
from newsletter.ingest.records import Parsed, Rejection
from newsletter.ingest.reviewbox import NOISE_PREDICATE, parse_score, review_facts
from newsletter.ingest.urls import canonical_url
from newsletter.sections import section_of

_FULL_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_ARTICLE_TYPES = {"Article", "NewsArticle", "BlogPosting", "ReportageNewsArticle", "WebPage"}
_REVIEW_TYPES = {"Review", "CriticReview", "UserReview"}


def _types(node: dict[str, Any]) -> set[str]:
    value = node.get("@type")
    items = value if isinstance(value, list) else [value]
    return {str(v).rsplit("/", 1)[-1] for v in items if v}


_LD_DEPTH = 16  # JSON-LD nests a graph, a review and its item a few levels deep, never more


def _walk(value: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    if depth > _LD_DEPTH:
        return  # a hostile page's nesting is not followed down to Python's recursion limit
    if isinstance(value, list):
        for item in value:
            yield from _walk(item, depth + 1)
    elif isinstance(value, dict):
        yield value
        for key in ("@graph", "review", "mainEntity"):
            if key in value:
                yield from _walk(value[key], depth + 1)


def json_ld(root: HtmlElement) -> list[dict[str, Any]]:
    """Every JSON-LD node on the page, ``@graph`` members and nested reviews included."""
    nodes: list[dict[str, Any]] = []
    for script in root.xpath('//script[@type="application/ld+json"]'):
        text = (script.text or "").strip()
        text = re.sub(r"^\s*(?:<!--|<!\[CDATA\[)|(?:-->|\]\]>)\s*$", "", text)
        try:
            nodes.extend(_walk(json.loads(text, strict=False)))
        except (ValueError, RecursionError):  # RecursionError: [[[[... nested too deeply
            continue  # one broken block does not hide the others
    return nodes


def _name(value: Any, ids: dict[str, dict[str, Any]]) -> str | None:
    """A person or thing's name from a string, an object, an ``@id`` reference or a list."""
    if isinstance(value, list):
        names = [n for n in (_name(v, ids) for v in value) if n]
        return ", ".join(names) or None
    if isinstance(value, dict):
        if "name" not in value and value.get("@id") in ids:
            value = ids[value["@id"]]
        return plain_text(value.get("name"))
    return plain_text(value) if isinstance(value, str) else None


def _url(value: Any, ids: dict[str, dict[str, Any]]) -> str | None:
    """A URL from a string, an object (``url``/``contentUrl``) or an ``@id`` reference to one."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        if "url" not in value and "contentUrl" not in value:
            value = ids.get(str(value.get("@id")), {})
        value = value.get("url") or value.get("contentUrl")
    return value if isinstance(value, str) else None


def _strings(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [str(v) for v in items if isinstance(v, str)]


def _rating(node: dict[str, Any]) -> tuple[float | None, float | None]:
    """``reviewRating`` as (value, best). Unusable values give nothing, so the review box can
    still speak; schema.org assumes ``bestRating`` 5 when it is missing, unless the value says
    otherwise."""
    rating = node.get("reviewRating")
    if isinstance(rating, list):
        rating = rating[0] if rating else None
    if not isinstance(rating, dict):
        return None, None
    given = rating.get("ratingValue")
    raw = "" if given is None else str(given).strip()
    fraction = parse_score(raw) if "/" in raw or "out of" in raw else None
    if fraction:
        return fraction
    try:
        value = float(raw.replace(",", "."))
        best = (
            float(str(rating.get("bestRating")).replace(",", "."))
            if rating.get("bestRating") not in (None, "")
            else (5.0 if value <= 5 else 10.0 if value <= 10 else 100.0)
        )
    except ValueError:
        return None, None
    if value != value or best != best:  # NaN
        return None, None
    return value, best


def _meta(root: HtmlElement, *names: str) -> list[str]:
    values: list[str] = []
    for name in names:
        xpath = f'//meta[@property="{name}" or @name="{name}"]/@content'
        values.extend(str(v).strip() for v in root.xpath(xpath) if str(v).strip())
    return values


def _first_meta(root: HtmlElement, *names: str) -> str | None:
    found = _meta(root, *names)
    return found[0] if found else None


def _microdata(root: HtmlElement) -> dict[str, Any]:
    """The first schema.org ``Review`` item in microdata, as a JSON-LD-like dict."""
    for item in root.xpath('//*[@itemscope][contains(@itemtype, "schema.org/Review")]'):

        def prop(name: str, scope: HtmlElement = item) -> HtmlElement | None:
            found = scope.xpath(f'.//*[@itemprop="{name}"]')
            return found[0] if found else None

        def value(el: HtmlElement | None) -> str | None:
            if el is None:
                return None
            raw = el.get("content") or el.get("datetime") or el.get("href") or text_of(el)
            return str(raw).strip() if raw else None

        node: dict[str, Any] = {"@type": "Review"}
        rating = prop("reviewRating")
        scope = rating if rating is not None else item
        node["reviewRating"] = {
            "ratingValue": value(prop("ratingValue", scope)),
            "bestRating": value(prop("bestRating", scope)),
        }
        author = prop("author")
        if author is not None:
            node["author"] = value(prop("name", author)) or value(author)
        node["datePublished"] = value(prop("datePublished"))
        node["name"] = value(prop("name")) if prop("name") is not None else None
        return node
    return {}


def _in_widget(el: HtmlElement) -> bool:
    """Whether ``el`` is (inside) a card or list of other posts: trending, related, sidebar."""
    return bool(el.xpath(f"ancestor-or-self::*[{NOISE_PREDICATE}]"))


def _article(root: HtmlElement) -> HtmlElement:
    """The post's own article element, never a card in a list of other posts (themes mark
    those cards ``hentry`` and ``post-N`` too, and a trending strip can come first)."""
    for xpath in (
        f'//article[.//h1][{has_class("hentry")} or starts-with(@id, "post-")]',
        f'//article[{has_class("hentry")} or starts-with(@id, "post-")]',
        "//article[.//h1]",
        f"//*[{has_class('entry-content')} or {has_class('post-content')}]",
        "//main",
        "//body",
    ):
        found = [el for el in root.xpath(xpath) if not _in_widget(el)]
        if found:
            return found[0]
    return root


def _image(
    root: HtmlElement, article: dict[str, Any], ids: dict[str, dict[str, Any]], base: str | None
) -> str | None:
    """The featured image: ``og:image``, else the JSON-LD article's image. Never an image in
    the body, and an empty or unusable value is no image (not the page it resolves to)."""
    for candidate in (_first_meta(root, "og:image"), _url(article.get("image"), ids)):
        url = canonical_url(candidate, base) if candidate and candidate.strip() else ""
        if url:
            return url
    return None


def _strip_site_name(title: str | None, site: str | None) -> str | None:
    if not title or not site:
        return title
    for sep in (" - ", " | ", " – ", " — ", " · ", " :: "):
        if title.endswith(sep + site):
            return title[: -len(sep + site)].strip()
    return title


def _first_timestamp(candidates: list[Any]) -> str | None:
    """The most trusted full timestamp, else the most trusted date-only value."""
    values = [str(c).strip() for c in candidates if isinstance(c, str) and c.strip()]
    full = [v for v in values if _FULL_TIME.match(v)]
    ranked = full or values
    return ranked[0] if ranked else None


def parse_page(
    data: bytes, source: str, url: str | None = None, charset: str | None = None
) -> Parsed:
    """One review page. ``url`` is where it was fetched from; ``charset`` from the HTTP header."""
    root, note = parse_document(data, source, charset)
    parsed = Parsed(source, "page", notes=[f"charset: {note}"] if note else [])
    base = root.xpath("//base/@href")
    base_url = canonical_url(str(base[0]), url) if base else url
    nodes = json_ld(root)
    ids = {str(n["@id"]): n for n in nodes if isinstance(n.get("@id"), str)}
    reviews = [n for n in nodes if _types(n) & _REVIEW_TYPES]
    micro = _microdata(root)
    review = reviews[0] if reviews else micro
    articles = [n for n in nodes if _types(n) & _ARTICLE_TYPES - {"WebPage"}]
    article_ld = articles[0] if articles else {}
    webpage = next((n for n in nodes if "WebPage" in _types(n)), {})
    site = _first_meta(root, "og:site_name") or _name(
        next((n for n in nodes if "WebSite" in _types(n)), {}), ids
    )

    body = _article(root)
    facts = review_facts(body)  # prunes related posts and widgets out of ``body`` first
    h1 = body.xpath(".//h1")
    heading = text_of(h1[0]) if h1 else None
    bylines = body.xpath('.//*[@rel="author"] | .//*[contains(@class, "author")]//a')
    times = body.xpath(".//time/@datetime")
    categories = [
        *_meta(root, "article:section"),
        *_strings(article_ld.get("articleSection")),
        *(text_of(a) or "" for a in body.xpath('.//*[@rel="category tag" or @rel="category"]')),
    ]
    authors = (
        _name(review.get("author"), ids),
        _name(article_ld.get("author"), ids),
        _first_meta(root, "author"),
        text_of(bylines[0]) if bylines else None,
    )
    score, score_max = _rating(review) if review else (None, None)
    if score is None:
        score, score_max = facts.score, facts.score_max
    canonical = root.xpath('//link[@rel="canonical"]/@href')
    permalink = next(
        (
            u
            for u in (
                *(canonical_url(str(c), base_url) for c in canonical[:1]),
                *(canonical_url(u, base_url) for u in _meta(root, "og:url")[:1]),
                canonical_url(url or ""),
                canonical_url(_url(webpage, ids) or ""),
            )
            if u
        ),
        "",
    )
    title = (
        plain_text(article_ld.get("headline"))
        or plain_text(review.get("name") if reviews else None)
        or heading
        or _strip_site_name(plain_text(_first_meta(root, "og:title")), site)
        or _strip_site_name(text_of(root.find(".//title")), site)
    )
    try:
        record = make_record(
            {
                "url": permalink,
                "title": title,
                "category": section_of(categories),
                # a name, never an address: <meta name="author" content="desk@..."> is none
                "author": next((n for n in map(byline, authors) if n), None),
                "published_at": _first_timestamp(
                    [
                        review.get("datePublished"),
                        article_ld.get("datePublished"),
                        *_meta(root, "article:published_time"),
                        *times[:1],
                    ]
                ),
                "score": score,
                "score_max": score_max,
                "tldr": facts.tldr,
                "excerpt": _first_meta(root, "og:description", "description"),
                "image_url": _image(root, article_ld, ids, base_url),
                "is_review": (bool(review) or facts.has_box or score is not None) or None,
            }
        )
    except ItemRejected as exc:
        parsed.rejections.append(Rejection(permalink or source, exc.reason, exc.detail))
        return parsed
    parsed.records.append(record)
    return parsed
