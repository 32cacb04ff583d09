"""What every extractor returns: normalized review records, per-item rejections, source errors.

Extractors are pure: bytes in, a :class:`Parsed` out. Storage happens in ``ingest.store``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from newsletter.errors import InputError

_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
REASON_MAX = 300


def one_line(text: str, limit: int = REASON_MAX) -> str:
    """``text`` as one printable line: control characters (a NUL, a newline, a terminal escape
    a hostile source put in its error message) shown escaped, and at most ``limit`` characters,
    so a reason never spans lines, rewrites the operator's terminal or breaks a database."""
    shown = _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def describe_failure(exc: BaseException) -> str:
    """An unforeseen error in one line: its kind and the first line of what it says (a
    database driver's message spans lines and quotes the whole statement; SQLAlchemy wraps
    the driver's error in ``orig``)."""
    orig = getattr(exc, "orig", None)
    cause = orig if isinstance(orig, BaseException) else exc
    lines = str(cause).strip().splitlines()
    return one_line(f"{type(cause).__name__}: {lines[0]}" if lines else type(cause).__name__)


class SourceError(InputError):
    """A whole source is unusable (not a feed, truncated, wrong encoding, HTTP error, too big).

    The message is one printable line (:func:`one_line`) whatever the source put in it."""

    def __init__(self, source: str, reason: str) -> None:
        source, reason = one_line(source), one_line(reason)
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


@dataclass(frozen=True)
class ReviewRecord:
    """One normalized post. ``score``/``score_max`` are as published (7 of 10, 4 of 5)."""

    url: str
    title: str
    category: str
    author: str | None
    published_at: datetime
    updated_at: datetime | None = None
    score: float | None = None
    score_max: float | None = None
    tldr: str | None = None
    excerpt: str | None = None
    image_url: str | None = None
    is_review: bool = True

    @classmethod
    def from_row(cls, row: Any) -> ReviewRecord:
        """The record of a stored review (any object with its attributes), field by field:
        what ``reviews export`` writes and ``ingest`` reads back."""
        return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})

    @property
    def score_norm(self) -> float | None:
        """The score on a 0-10 scale, for ordering and colours."""
        if self.score is None or not self.score_max:
            return None
        return round(self.score / self.score_max * 10, 2)

    def content_hash(self) -> str:
        """A digest of every stored field: equal hashes mean a re-ingest changes nothing."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}  # asdict deep-copies
        data["published_at"] = self.published_at.isoformat()
        data["updated_at"] = self.updated_at.isoformat() if self.updated_at else None
        blob = json.dumps(data, sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(blob).hexdigest()


@dataclass(frozen=True)
class Rejection:
    """An item left out of a source, with where it was and why."""

    where: str  # "line 7", "item 3", a URL
    reason: str  # a short code such as missing_link, then detail
    detail: str = ""

    def __str__(self) -> str:
        text = f"{self.where}: {self.reason}" + (f" ({self.detail})" if self.detail else "")
        return one_line(text)


@dataclass
class Parsed:
    """The outcome of one source: records to store and items rejected on the way."""

    source: str
    format: str
    records: list[ReviewRecord] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # recoverable oddities worth telling
