"""Ingest: gather reviews and page views from files and URLs into the database.

The public surface: :func:`ingest_sources` runs an ingest and returns one
:class:`SourceReport` per source; :func:`parse_source` is the pure extractor behind it
(bytes in, records out); :class:`Fetcher` fetches URLs.
"""

from __future__ import annotations

from newsletter.ingest.fetch import Fetched, Fetcher, FetchPolicy, Validators
from newsletter.ingest.formats import FORMATS, detect_format, is_url, parse_source
from newsletter.ingest.records import Parsed, Rejection, ReviewRecord, SourceError
from newsletter.ingest.runner import SourceReport, fetch_policy, ingest_sources, read_file

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
