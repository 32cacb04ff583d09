"""Field normalization shared by every extractor: plain text, timestamps, scores, validation.

All functions are pure. :func:`make_record` turns loosely typed fields into a
:class:`ReviewRecord` or raises :class:`ItemRejected` with a short reason code. It is the one
edge every extractor's text passes: control characters (a NUL, which PostgreSQL cannot store in
``text``) and lone surrogates (which no database can encode) are taken out of every text field
there (:func:`clean_text`), and a field that is an array or object where text belongs rejects the
item instead of being stored as its ``repr``.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from typing import Any
from zoneinfo import ZoneInfo

from newsletter.ingest.records import ReviewRecord
from newsletter.ingest.urls import canonical_url
from newsletter.models import URL_LENGTH
from newsletter.sections import OTHER, section_for

TITLE_MAX = 300
TEXT_MAX = 5000
SITE_ZONE = ZoneInfo("America/New_York")
URL_FIELDS = frozenset({"url", "image_url"})  # refused when unsafe (urls.canonical_url), not mended
# C0 and C1 controls but tab, newline and carriage return (whitespace, folded later), and UTF-16
# surrogates left unpaired by a JSON "\ud800" escape.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


class ItemRejected(ValueError):
    """One item cannot become a record; ``reason`` is a short code (``missing_link``...)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class _TextExtractor(HTMLParser):
    _SKIP = frozenset({"script", "style", "noscript", "template", "iframe", "svg"})
    _BREAK = frozenset({"p", "br", "div", "li", "h1", "h2", "h3", "h4", "tr", "blockquote"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self.skipping += 1
        elif tag in self._BREAK:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self.skipping:
            self.skipping -= 1
        elif tag in self._BREAK:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


_TAGLIKE = re.compile(r"</?[A-Za-z!][^>]*>")
_ENTITY = re.compile(r"&(#\d+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]{1,31});")


def plain_text(value: Any) -> str | None:
    """Markup or entity-laden text to plain text: tags stripped, ``<script>``/``<style>``
    contents dropped, entities decoded (twice-escaped ones too), whitespace folded.

    Text that decodes into markup again (``&lt;script&gt;``) is stripped again, so no field ever
    stores markup. Returns ``None`` for empty values.
    """
    if value is None:
        return None
    text = str(value)
    for _ in range(3):
        if not (_TAGLIKE.search(text) or _ENTITY.search(text) or "<" in text):
            break
        parser = _TextExtractor()
        parser.feed(text)
        parser.close()
        text = "".join(parser.parts)
        if _ENTITY.search(text):  # entities escaped twice: "&amp;#8217;"
            text = html.unescape(text)
    text = re.sub(r"[<>]", "", text) if _TAGLIKE.search(text) else text
    text = " ".join(text.split())
    return text or None


def parse_timestamp(value: Any, *, assume: ZoneInfo = SITE_ZONE) -> datetime:
    """ISO 8601 or RFC 822 text (or a datetime) to an aware UTC datetime.

    A value without an offset is read in ``assume`` (the site's zone). Raises ``ValueError``.
    """
    if isinstance(value, datetime):
        parsed = value
    else:
        text = str(value or "").strip()
        if not text:
            raise ValueError("empty date")
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            try:
                parsed = parsedate_to_datetime(text)
            except (TypeError, ValueError, IndexError) as exc:
                raise ValueError(f"unparsable date {text[:40]!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=assume)
    try:
        return parsed.astimezone(UTC)
    except OverflowError as exc:  # 9999-12-31T23:00-05:00 is past the last year Python has
        raise ValueError(f"date out of range {str(value)[:40]!r}") from exc


def parse_number(value: Any) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    number = float(str(value).strip())
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"not a number: {value!r}")
    return number


def check_score(score: float | None, score_max: float | None) -> tuple[float | None, float | None]:
    """Validate a published score; a score without a scale is read out of 10."""
    if score is None:
        return None, None
    scale = 10.0 if score_max is None else score_max
    if not 1 <= scale <= 100 or not 0 <= score <= scale:
        raise ItemRejected("absurd_score", f"{score:g}/{scale:g}")
    return score, scale


def category_name(value: Any) -> str:
    """A section name for a site category (``Marvel Comics`` -> Comics), else Other."""
    return section_for(plain_text(value)) or OTHER


def clean_text(text: str) -> str:
    """``text`` without control characters (NUL included) and unpaired surrogates."""
    return _CONTROL.sub("", text)


def _scalars(fields: dict[str, Any]) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for name, value in fields.items():
        if isinstance(value, list | tuple | dict | set):
            kind = "an array" if isinstance(value, list | tuple | set) else "an object"
            raise ItemRejected("invalid_field", f"{name} is {kind}, not a value")
        if isinstance(value, str) and name not in URL_FIELDS:
            value = clean_text(value)
        cleaned[name] = value
    return cleaned


def make_record(fields: dict[str, Any]) -> ReviewRecord:
    """Validate and normalize one item's loosely typed fields into a record."""
    fields = _scalars(fields)
    url = canonical_url(str(fields.get("url") or "").strip())
    if not url:
        raise ItemRejected("missing_link", "no usable permalink")
    if len(url) > URL_LENGTH:
        raise ItemRejected("link_too_long", f"{len(url)} characters, limit {URL_LENGTH}")
    title = plain_text(fields.get("title"))
    if not title:
        raise ItemRejected("missing_title")
    if len(title) > TITLE_MAX:
        raise ItemRejected("title_too_long", f"{len(title)} characters, limit {TITLE_MAX}")
    try:
        published = parse_timestamp(fields.get("published_at"))
    except ValueError as exc:
        raise ItemRejected("invalid_date", str(exc)) from exc
    updated_raw = fields.get("updated_at")
    try:
        updated = parse_timestamp(updated_raw) if updated_raw else None
        score, score_max = check_score(
            parse_number(fields.get("score")), parse_number(fields.get("score_max"))
        )
    except ItemRejected:
        raise
    except ValueError as exc:
        raise ItemRejected("invalid_field", str(exc)) from exc
    # An unusable image (javascript:, data:, relative) is dropped, not the whole review.
    image = canonical_url(str(fields.get("image_url") or "")) or None
    image = image if image and len(image) <= URL_LENGTH else None
    is_review = fields.get("is_review")
    if is_review is None or is_review == "":
        is_review = score is not None or title.upper().startswith("REVIEW")
    elif isinstance(is_review, str):
        is_review = is_review.strip().lower() in ("1", "true", "yes")
    return ReviewRecord(
        url=url,
        title=title,
        category=category_name(fields.get("category")),
        author=_clip(plain_text(fields.get("author")), 200),
        published_at=published,
        updated_at=updated,
        score=score,
        score_max=score_max,
        tldr=_clip(plain_text(fields.get("tldr")), TEXT_MAX),
        excerpt=_clip(plain_text(fields.get("excerpt")), TEXT_MAX),
        image_url=image,
        is_review=bool(is_review),
    )


def _clip(text: str | None, limit: int) -> str | None:
    return text if text is None or len(text) <= limit else text[: limit - 1].rstrip() + "…"
