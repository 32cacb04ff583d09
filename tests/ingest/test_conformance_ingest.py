"""Feeds, WordPress JSON, pages and broken inputs against the shared conformance corpus.

Every input under ``feeds/``, ``wp-json/``, ``pages/`` and ``bad/`` of ``../shared/fixtures``
that has an answer file at ``expected/<path>.json`` is one test. The corpus README is the spec.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.ingest import ingest_sources, parse_source
from newsletter.ingest.exports import to_row
from newsletter.ingest.records import Parsed, ReviewRecord, SourceError
from newsletter.models import Review
from tests.helpers.env import SHARED_FIXTURES

SITE = "https://reviews.example.com/"
FOLDERS = ("feeds", "wp-json", "pages", "bad")
FORMATS = {"html": "page"}  # the corpus's format names where ours differ


def _answer(path: Path) -> Path:
    return SHARED_FIXTURES / "expected" / f"{path.relative_to(SHARED_FIXTURES)}.json"


def _corpus() -> list[Path]:
    found: list[Path] = []
    for folder in FOLDERS:
        directory = SHARED_FIXTURES / folder
        if directory.is_dir():
            found.extend(p for p in sorted(directory.iterdir()) if _answer(p).is_file())
    return found


def _expected(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(_answer(path).read_text(encoding="utf-8"))
    return data


def _as_dict(record: ReviewRecord) -> dict[str, Any]:
    """A record as the corpus writes it: no excerpt, no category where ours says Other."""
    row = to_row(record)
    del row["excerpt"]
    row["category"] = None if record.category == "Other" else record.category
    return row


def _parse(path: Path, expected: dict[str, Any]) -> Parsed:
    fmt = FORMATS.get(expected["format"], expected["format"])
    parsed = parse_source(str(path), path.read_bytes(), fmt, SITE)
    assert isinstance(parsed, Parsed)
    return parsed


def _assert_records(parsed: Parsed, expected: dict[str, Any]) -> None:
    # dict equality compares scores numerically (7 == 7.0)
    assert [_as_dict(r) for r in parsed.records] == expected["records"]
    wanted = [r["reason"] for r in expected.get("rejected", [])]
    assert [r.reason for r in parsed.rejections] == wanted


needs_corpus = pytest.mark.skipif(
    not SHARED_FIXTURES.is_dir(), reason=f"conformance corpus not found at {SHARED_FIXTURES}"
)


@needs_corpus
@pytest.mark.parametrize("path", _corpus(), ids=lambda p: str(p.relative_to(SHARED_FIXTURES)))
def test_conformance_ingest(path: Path) -> None:
    expected = _expected(path)
    outcome = expected["outcome"]
    parsed: Parsed | None = None
    if outcome == "records":
        parsed = _parse(path, expected)
        _assert_records(parsed, expected)
    elif outcome == "error":
        with pytest.raises(SourceError):
            _parse(path, expected)
    elif outcome == "error_or_partial":
        try:
            parsed = _parse(path, expected)
        except SourceError:
            pass
        else:
            assert [_as_dict(r) for r in parsed.records] == expected["records"]
    else:
        pytest.fail(f"unknown outcome {outcome!r} in {_answer(path)}")
    forbidden = [s.lower() for s in expected.get("must_not_contain", [])]
    if forbidden:
        assert parsed is not None
        for record in parsed.records:
            for name, value in asdict(record).items():
                text = str(value).lower()
                assert not [s for s in forbidden if s in text], f"{name}: {value!r}"


@needs_corpus
def test_conformance_corpus_is_complete() -> None:
    """Every input in the four folders has its answer file (else it would go untested)."""
    inputs = [
        p
        for f in FOLDERS
        if (SHARED_FIXTURES / f).is_dir()
        for p in (SHARED_FIXTURES / f).iterdir()
    ]
    assert sorted(inputs) == sorted(_corpus())


@needs_corpus
def test_everything_twice_into_the_database(factory: sessionmaker[Session]) -> None:
    """The whole corpus in one run lands source by source; the second run changes nothing."""
    folders = (*FOLDERS, "exports", "analytics")
    sources = [str(p) for f in folders for p in sorted((SHARED_FIXTURES / f).glob("*"))]
    first = ingest_sources(factory, sources, SITE)
    failed = {r.source for r in first if r.error}
    expected_errors = {
        str(p) for p in _corpus() if _expected(p)["outcome"] in ("error", "error_or_partial")
    }
    assert failed == expected_errors
    assert all(r.exit_code == 1 for r in first if r.error)
    with factory() as session:
        stored = set(session.scalars(select(Review.url)))
        titles = list(session.scalars(select(Review.title)))
    # nothing from a failed source: the cut-off item of the truncated feed is nowhere
    assert not [t for t in titles if "Lantern Ke" in t]
    second = ingest_sources(factory, sources, SITE)
    for report in second:
        if report.error:
            continue
        assert (report.counts.new, report.counts.updated) == (0, 0), report.source
    with factory() as session:
        assert set(session.scalars(select(Review.url))) == stored
