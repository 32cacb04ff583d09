"""Page-view analytics CSV (``url,date,views``) into daily view counts per post.

URLs are folded onto their analytics key (``urls.url_key``) so that ``?utm_source=...``,
``www.`` and missing trailing slashes merge into the post; home, category, tag, author, page and
feed URLs are counted as excluded, never as posts. Columns are read by header name.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from newsletter.ingest.exports import decode_text
from newsletter.ingest.records import Rejection, SourceError
from newsletter.ingest.urls import is_post_path, url_key
from newsletter.models import URL_LENGTH

_WHOLE = re.compile(r"\d{1,3}(,\d{3})+|\d+")


@dataclass
class PageViews:
    source: str
    # (url_key, day) -> views; rows for the same post and day are summed.
    daily: dict[tuple[str, date], int] = field(default_factory=dict)
    excluded: dict[str, int] = field(default_factory=dict)
    rejections: list[Rejection] = field(default_factory=list)

    def totals(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for (key, _day), views in self.daily.items():
            out[key] += views
        return dict(out)

    def top(self, n: int = 5) -> list[tuple[str, int]]:
        """The ``n`` posts with the most views over the file's window; ties sort by URL."""
        return sorted(self.totals().items(), key=lambda kv: (-kv[1], kv[0]))[:n]


def parse_pageviews(data: bytes, source: str, site: str) -> PageViews:
    text = decode_text(data, source)
    out = PageViews(source)
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = [h.strip().lower() for h in reader.fieldnames or []]
        missing = [c for c in ("url", "date", "views") if c not in header]
        if missing:
            raise SourceError(
                source, f"not a page-view CSV: missing column(s) {', '.join(missing)}"
            )
        reader.fieldnames = header
        daily: dict[tuple[str, date], int] = defaultdict(int)
        excluded: dict[str, int] = defaultdict(int)
        for row in reader:
            where = f"line {reader.line_num}"
            if not any((v or "").strip() for k, v in row.items() if k):
                continue
            raw_views = (row.get("views") or "").strip()
            if not _WHOLE.fullmatch(raw_views):
                out.rejections.append(Rejection(where, "invalid_views", raw_views[:40]))
                continue
            try:
                day = date.fromisoformat((row.get("date") or "").strip()[:10])
            except ValueError:
                out.rejections.append(
                    Rejection(where, "invalid_date", (row.get("date") or "")[:40])
                )
                continue
            key = url_key(row.get("url") or "", site)
            if not key or len(key) > URL_LENGTH:
                out.rejections.append(Rejection(where, "invalid_url", (row.get("url") or "")[:80]))
                continue
            views = int(raw_views.replace(",", ""))
            if is_post_path(key):
                daily[(key, day)] += views
            else:
                excluded[key] += views
    except csv.Error as exc:
        raise SourceError(source, f"malformed CSV: {exc}") from exc
    out.daily, out.excluded = dict(daily), dict(excluded)
    return out
