"""Ingest: gather reviews and page views from files and URLs into the database.

The public surface: :func:`ingest_sources` runs an ingest and returns one
:class:`SourceReport` per source; :func:`parse_source` is the pure extractor behind it
(bytes in, records out); :class:`Fetcher` fetches URLs. The names are loaded on first use, so
a module that needs only ``newsletter.ingest.urls`` (a delivery worker does) does not load the
feed parser and the HTTP client with it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from newsletter.ingest.fetch import Fetched, Fetcher, FetchPolicy, Validators
    from newsletter.ingest.formats import FORMATS, detect_format, is_url, parse_source
    from newsletter.ingest.records import Parsed, Rejection, ReviewRecord, SourceError
    from newsletter.ingest.runner import SourceReport, fetch_policy, ingest_sources, read_file

_WHERE = {
    "FORMATS": "formats",
    "FetchPolicy": "fetch",
    "Fetched": "fetch",
    "Fetcher": "fetch",
    "Parsed": "records",
    "Rejection": "records",
    "ReviewRecord": "records",
    "SourceError": "records",
    "SourceReport": "runner",
    "Validators": "fetch",
    "detect_format": "formats",
    "fetch_policy": "runner",
    "ingest_sources": "runner",
    "is_url": "formats",
    "parse_source": "formats",
    "read_file": "runner",
}

__all__ = [
    "FORMATS",
    "FetchPolicy",
    "Fetched",
    "Fetcher",
    "Parsed",
    "Rejection",
    "ReviewRecord",
    "SourceError",
    "SourceReport",
    "Validators",
    "detect_format",
    "fetch_policy",
    "ingest_sources",
    "is_url",
    "parse_source",
    "read_file",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
