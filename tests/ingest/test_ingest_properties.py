"""Property tests over the ingest edge: any bytes in any format give records, rejections or a
one-line source error, never another exception; whatever becomes a record is storable (no
control character or lone surrogate in any text, bounded lengths); and a run over such sources
stores each completely or not at all, on the configured database.

The page and feed extractors have their own (``test_extract_properties``); these cover the
exports (JSON Lines, CSV), the WordPress API, analytics CSV, format detection and the one entry
point that dispatches them all (``parse_source``, with the error-page rule). Examples are kept
few: CI runs every test on two databases.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.ingest import FORMATS, Parsed, SourceError, detect_format, ingest_sources
from newsletter.ingest.normalize import ItemRejected, make_record
from newsletter.ingest.pageviews import PageViews
from newsletter.ingest.records import ReviewRecord
from newsletter.ingest.urls import canonical_url, url_key
from newsletter.models import URL_LENGTH, Review

FAST = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)
SITE = "https://reviews.example.com/"
_UNSTORABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_COLUMNS = ("url", "title", "category", "author", "published_at", "score", "score_max", "tldr")

# Text as hostile sources write it: NULs, lone surrogates, markup, huge numbers, plain junk.
_NASTY = st.sampled_from(
    ["\x00", "\ud800", "\u2028", "\x1b[31m", "<script>x</script>", "&#0;", "1e400", "9" * 5000]
)
_TEXT = st.one_of(
    st.text(max_size=30), st.lists(st.one_of(_NASTY, st.text(max_size=8))).map("".join)
)
_URL = st.one_of(
    st.just(f"{SITE}a-review/"),
    st.builds(lambda t: f"{SITE}{t}/", _TEXT),
    st.sampled_from(["https://x.example:99999/", "https://[::1/", "javascript:alert(1)"]),
    _TEXT,
)
_DATE = st.one_of(
    st.sampled_from(
        ["2026-11-20T10:00:00Z", "9999-12-31T23:59:59-05:00", "0001-01-01T00:00+05:00"]
    ),
    _TEXT,
)
_SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), _TEXT)
_VALUE = st.recursive(
    _SCALAR, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3)
)
_ROW = st.fixed_dictionaries(
    {"url": _URL, "title": st.one_of(st.just("REVIEW: X"), _TEXT), "published_at": _DATE},
    optional=dict.fromkeys(("category", "author", "score", "score_max", "tldr"), _VALUE),
)


def _check(result: Parsed | PageViews) -> None:
    """Whatever an extractor keeps can be stored as it is."""
    if isinstance(result, PageViews):
        for key, _day in result.daily:
            assert not _UNSTORABLE.search(key) and len(key) <= URL_LENGTH
        return
    for record in result.records:
        _storable(record)


def _storable(record: ReviewRecord) -> None:
    for value in (record.title, record.author, record.tldr, record.excerpt, record.category):
        assert value is None or not _UNSTORABLE.search(value), value
    for url in (record.url, record.image_url):
        assert url is None or (url.startswith(("http://", "https://")) and len(url) <= URL_LENGTH)
        assert url is None or not _UNSTORABLE.search(url)
    assert len(record.title) <= 300 and len(record.author or "") <= 200
    record.content_hash()  # encodes every field as UTF-8


def _parse(data: bytes, fmt: str) -> None:
    from newsletter.ingest import parse_source

    error: SourceError | None = None
    try:
        _check(parse_source("source", data, fmt, SITE, base_url=f"{SITE}feed/"))
    except SourceError as exc:
        error = exc
    assert error is None or ("\n" not in str(error) and str(error).startswith("source: "))


@FAST
@given(st.binary(max_size=2048), st.sampled_from(FORMATS))
def test_any_bytes_in_any_format_give_records_or_a_source_error(data: bytes, fmt: str) -> None:
    _parse(data, fmt)


@FAST
@given(st.lists(st.one_of(_ROW, _VALUE), max_size=5), st.sampled_from(["jsonl", "wp-json"]))
def test_any_json_gives_records_or_a_source_error(rows: list[object], fmt: str) -> None:
    if fmt == "jsonl":
        text = "".join(json.dumps(r) + "\n" for r in rows)
    else:  # posts as the WordPress API words them
        posts = [
            {**r, "link": r.get("url"), "title": {"rendered": r.get("title")}}
            if isinstance(r, dict)
            else r
            for r in rows
        ]
        text = json.dumps(posts)
    _parse(text.encode("utf-8", errors="surrogatepass"), fmt)


_JSONISH = st.one_of(
    st.integers(1, 3000).map(lambda n: "[" * n + "]" * n),  # past the decoder's recursion limit
    st.integers(1, 3000).map(lambda n: '{"a":' * n + "1" + "}" * n),
    st.integers(4000, 5000).map(lambda n: "1" * n),  # past int()'s 4,300 digits
    st.text(max_size=40),
)


@FAST
@given(st.lists(_JSONISH, min_size=1, max_size=3), st.sampled_from(["jsonl", "wp-json"]))
def test_json_past_the_decoders_limits_is_refused_in_words(parts: list[str], fmt: str) -> None:
    text = "\n".join(parts) if fmt == "jsonl" else f"[{', '.join(parts)}]"
    _parse(text.encode("utf-8", errors="surrogatepass"), fmt)


@FAST
@given(
    st.lists(st.sampled_from([*_COLUMNS, "views", "date", "", "url"]), min_size=1, max_size=6),
    st.lists(st.lists(_TEXT, max_size=7), max_size=5),
    st.sampled_from(["csv", "pageviews"]),
)
def test_any_csv_gives_records_or_a_source_error(
    header: list[str], rows: list[list[str]], fmt: str
) -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    _parse(out.getvalue().encode("utf-8", errors="surrogatepass"), fmt)


@FAST
@given(st.text(max_size=40), st.binary(max_size=512), st.one_of(st.none(), _TEXT))
def test_detection_names_a_format_or_asks_for_one(name: str, data: bytes, kind: str | None) -> None:
    found: str | SourceError
    try:
        found = detect_format(name, data, kind)
    except SourceError as exc:
        found = exc
    if isinstance(found, SourceError):
        assert "cannot tell its format" in str(found) and "\n" not in str(found)
    else:
        assert found in FORMATS


@FAST
@given(_ROW)
def test_a_record_is_storable_or_rejected_with_a_reason(fields: dict[str, object]) -> None:
    reason = ""
    try:
        _storable(make_record(dict(fields)))
    except ItemRejected as exc:
        reason = exc.reason
    assert reason == "" or re.fullmatch(r"[a-z_]+", reason)


@FAST
@given(_TEXT, st.one_of(st.none(), _TEXT))
def test_urls_are_canonical_or_refused_never_an_error(url: str, base: str | None) -> None:
    canonical = canonical_url(url, base)
    assert canonical == "" or canonical.startswith(("http://", "https://"))
    assert not _UNSTORABLE.search(canonical) and not _UNSTORABLE.search(url_key(url, SITE))


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)
@given(st.lists(st.lists(_ROW, max_size=4), min_size=1, max_size=3))
def test_a_run_stores_each_source_whole_or_not_at_all(
    factory: sessionmaker[Session], tmp_path: Path, sources: list[list[dict[str, object]]]
) -> None:
    """Every example adds to the same database: what each source reports as stored is there,
    and a failed source adds nothing."""
    paths = []
    for rows in sources:
        path = tmp_path / f"s{len(list(tmp_path.iterdir()))}.jsonl"
        text = "".join(json.dumps(r) + "\n" for r in rows)
        path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
        paths.append(str(path))
    with factory() as session:
        before = session.scalar(select(func.count()).select_from(Review)) or 0
    reports = ingest_sources(factory, paths, SITE)
    with factory() as session:
        after = session.scalar(select(func.count()).select_from(Review)) or 0
    for report in reports:
        assert report.error is None or ("\n" not in report.error and report.counts.new == 0)
        assert report.error is None or "failed:" not in report.error  # nothing unforeseen
    assert after - before == sum(r.counts.new for r in reports)
