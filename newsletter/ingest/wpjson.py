"""WordPress REST API posts (``/wp-json/wp/v2/posts?_embed``) into review records.

Fields used: ``link`` (the guid and slug are not permalinks), ``title.rendered``, ``date_gmt``
(``date`` is site-local time without an offset), ``content.rendered`` for the review box,
``excerpt.rendered``, ``_embedded.author[0].name``, the ``category`` taxonomy of
``_embedded["wp:term"]`` (tags ignored), ``_embedded["wp:featuredmedia"][0].source_url``
(an error object such as ``rest_forbidden`` means no image), and custom fields in ``acf`` or
``meta`` where a site keeps the score and TL;DR outside the content.
"""

from __future__ import annotations

import json
from typing import Any

from newsletter.ingest.exports import json_limit
from newsletter.ingest.html import byline, parse_fragment
from newsletter.ingest.normalize import ItemRejected, make_record
from newsletter.ingest.records import Parsed, Rejection, SourceError
from newsletter.ingest.reviewbox import ReviewFacts, parse_score, review_facts
from newsletter.sections import section_of

SCORE_FIELDS = ("score", "rating", "review_score", "review_rating", "wp_review_total", "_score")
SCALE_FIELDS = ("score_max", "rating_max", "best_rating", "review_scale", "scale")
TLDR_FIELDS = ("tldr", "tl_dr", "tl;dr", "review_tldr", "review_summary", "verdict")


def _rendered(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("rendered")
    return value if isinstance(value, str) else None


def _describe(items: list[Any]) -> str:
    kinds = {type(i).__name__ for i in items}
    names = {"int": "numbers", "float": "numbers", "str": "strings", "list": "arrays"}
    return "an array of " + " and ".join(sorted(names.get(k, k) for k in kinds))


def load_posts(data: bytes, source: str) -> list[dict[str, Any]]:
    """The post objects of one API response; a clear :class:`SourceError` for anything else."""
    try:
        payload = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise SourceError(source, "not WordPress JSON: the data is not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise SourceError(source, f"not JSON: {exc.msg} at line {exc.lineno}") from exc
    except (ValueError, RecursionError) as exc:  # a 5,000-digit number; [[[[... too deep
        raise SourceError(source, f"unusable JSON: {json_limit(exc)}") from exc
    if isinstance(payload, dict) and "code" in payload and "message" in payload:
        raise SourceError(source, f"WordPress API error {payload['code']}: {payload['message']}")
    if isinstance(payload, dict):
        payload = [payload] if "link" in payload or "title" in payload else payload
    if not isinstance(payload, list):
        kind = type(payload).__name__
        raise SourceError(
            source, f"unexpected structure: expected an array of post objects, got a {kind}"
        )
    if payload and not all(isinstance(p, dict) for p in payload):
        bad = [p for p in payload if not isinstance(p, dict)]
        raise SourceError(
            source,
            f"unexpected structure: expected an array of post objects, got {_describe(bad)}",
        )
    return payload


def _embedded(post: dict[str, Any], key: str) -> list[Any]:
    value = (post.get("_embedded") or {}).get(key)
    return value if isinstance(value, list) else []


def _categories(post: dict[str, Any]) -> list[str]:
    names: list[str] = []
    for group in _embedded(post, "wp:term"):
        if not isinstance(group, list):
            continue
        for term in group:
            if isinstance(term, dict) and term.get("taxonomy", "category") == "category":
                names.append(str(term.get("name") or ""))
    return names


def _image(post: dict[str, Any]) -> str | None:
    for media in _embedded(post, "wp:featuredmedia")[:1]:
        if isinstance(media, dict) and "code" not in media and media.get("source_url"):
            return str(media["source_url"])
    return None


def _author(post: dict[str, Any]) -> str | None:
    for author in _embedded(post, "author")[:1]:
        if isinstance(author, dict) and "code" not in author and author.get("name"):
            return byline(author["name"])  # a display name set to an address is no byline
    return None


def _custom_fields(post: dict[str, Any]) -> ReviewFacts:
    """Score and TL;DR kept in custom fields (ACF or registered meta), when a site does that."""
    fields: dict[str, Any] = {}
    for group in ("meta", "acf"):
        value = post.get(group)
        if isinstance(value, dict):
            fields.update({str(k).lower(): v for k, v in value.items()})
    raw = next((fields[k] for k in SCORE_FIELDS if fields.get(k) not in (None, "")), None)
    scale = next((fields[k] for k in SCALE_FIELDS if fields.get(k) not in (None, "")), None)
    tldr = next((fields[k] for k in TLDR_FIELDS if isinstance(fields.get(k), str)), None)
    score = (
        parse_score(str(raw), float(str(scale)) if _numeric(scale) else 10.0)
        if raw is not None
        else None
    )
    return ReviewFacts(
        score[0] if score else None, score[1] if score else None, tldr or None, has_box=bool(score)
    )


def _numeric(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _date(post: dict[str, Any]) -> str | None:
    gmt = post.get("date_gmt")
    if isinstance(gmt, str) and gmt.strip():
        return gmt.strip() + ("" if gmt.strip().endswith("Z") else "Z")
    local = post.get("date")  # site-local, read in the site's zone by make_record
    return local if isinstance(local, str) else None


def parse_posts(posts: list[dict[str, Any]], source: str, parsed: Parsed | None = None) -> Parsed:
    parsed = parsed or Parsed(source, "wp-json")
    for number, post in enumerate(posts, start=1):
        where = f"post {post.get('id')}" if post.get("id") is not None else f"item {number}"
        try:
            link = post.get("link")
            custom = _custom_fields(post)
            body = review_facts(parse_fragment(_rendered(post.get("content"))))
            has_score = custom.score is not None
            record = make_record(
                {
                    "url": link if isinstance(link, str) else "",
                    "title": _rendered(post.get("title")),
                    "category": section_of(_categories(post)),
                    "author": _author(post),
                    "published_at": _date(post),
                    "score": custom.score if has_score else body.score,
                    "score_max": custom.score_max if has_score else body.score_max,
                    "tldr": custom.tldr or body.tldr,
                    "excerpt": _rendered(post.get("excerpt")),
                    "image_url": _image(post),
                    "is_review": (has_score or body.score is not None or body.has_box) or None,
                }
            )
        except ItemRejected as exc:
            parsed.rejections.append(Rejection(where, exc.reason, exc.detail))
            continue
        parsed.records.append(record)
    return parsed


def parse_wp_json(data: bytes, source: str) -> Parsed:
    """One response body of ``/wp-json/wp/v2/posts?_embed`` (a page of posts)."""
    return parse_posts(load_posts(data, source), source)
