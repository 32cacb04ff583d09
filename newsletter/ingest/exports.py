"""Our canonical flat export form, as JSON Lines or CSV, read back into records.

Columns (README, "Export format"): ``url,title,category,author,published_at,score,score_max,
tldr,image_url,excerpt,is_review``. ``published_at`` is ISO 8601 with an offset (converted to
UTC); an empty score means none; a missing ``is_review`` means true (exports hold reviews).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any, TextIO

from newsletter.errors import FieldError
from newsletter.ingest.normalize import ItemRejected, make_record
from newsletter.ingest.records import Parsed, Rejection, ReviewRecord, SourceError

COLUMNS = (
    "url",
    "title",
    "category",
    "author",
    "published_at",
    "score",
    "score_max",
    "tldr",
    "image_url",
    "excerpt",
    "is_review",
)
REQUIRED = ("url", "title", "published_at")


def decode_text(data: bytes, source: str) -> str:
    """UTF-8 (with or without BOM); Windows-1252 when the bytes are not UTF-8."""
    if b"\x00" in data[:4096]:
        raise SourceError(source, "binary data, not a text export")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def json_limit(exc: ValueError | RecursionError) -> str:
    """What a JSON document that the decoder gave up on exceeded, in words."""
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc).split(";")[0]


def _collect(parsed: Parsed, rows: Iterable[tuple[str, dict[str, Any]]]) -> Parsed:
    for where, row in rows:
        if row.get("is_review") in (None, ""):
            row["is_review"] = True
        try:
            parsed.records.append(make_record(row))
        except ItemRejected as exc:
            parsed.rejections.append(Rejection(where, exc.reason, exc.detail))
    return parsed


def parse_jsonl(data: bytes, source: str) -> Parsed:
    text = decode_text(data, source)
    rows: list[tuple[str, dict[str, Any]]] = []
    bad: list[Rejection] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            bad.append(Rejection(f"line {number}", "invalid_json", exc.msg))
            continue
        except (ValueError, RecursionError) as exc:  # a 5,000-digit number; [[[[... too deep
            bad.append(Rejection(f"line {number}", "invalid_json", json_limit(exc)))
            continue
        if not isinstance(row, dict):
            bad.append(Rejection(f"line {number}", "invalid_json", "not an object"))
            continue
        rows.append((f"line {number}", row))
    if not rows:
        reason = bad[0].detail if bad else "empty"
        raise SourceError(source, f"not a JSON Lines export ({reason})")
    parsed = _collect(Parsed(source, "jsonl"), rows)
    parsed.rejections[:0] = bad
    return parsed


def parse_csv(data: bytes, source: str) -> Parsed:
    text = decode_text(data, source)
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = [h.strip().lower() for h in reader.fieldnames or []]
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise SourceError(
                source, f"not a review export: missing column(s) {', '.join(missing)}"
            )
        reader.fieldnames = header
        rows = [
            (f"line {reader.line_num}", {k: v for k, v in row.items() if k})
            for row in reader
            if any((v or "").strip() for k, v in row.items() if k)
        ]
    except csv.Error as exc:
        raise SourceError(source, f"malformed CSV: {exc}") from exc
    return _collect(Parsed(source, "csv"), rows)


def to_row(record: ReviewRecord) -> dict[str, Any]:
    """A record in the canonical flat form (JSON types; CSV writers stringify)."""
    return {
        "url": record.url,
        "title": record.title,
        "category": record.category,
        "author": record.author,
        "published_at": record.published_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "score": record.score,
        "score_max": record.score_max,
        "tldr": record.tldr,
        "image_url": record.image_url,
        "excerpt": record.excerpt,
        "is_review": record.is_review,
    }


def write_export(records: Iterable[ReviewRecord], fmt: str, out: TextIO) -> int:
    """Write ``records`` in the canonical flat form, ``jsonl`` or ``csv`` (RFC 4180, header
    row); returns how many. What this writes, :func:`parse_jsonl` and :func:`parse_csv` read."""
    if fmt not in ("jsonl", "csv"):
        raise FieldError("format", "expected jsonl or csv", shown=repr(fmt))
    writer = csv.DictWriter(out, COLUMNS, lineterminator="\r\n") if fmt == "csv" else None
    if writer:
        writer.writeheader()
    count = 0
    for record in records:
        row = to_row(record)
        if writer:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
        else:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        count += 1
    return count
