"""Review services: ingest sources into the store, and export what is stored."""

from __future__ import annotations

from typing import TextIO

from sqlalchemy import select

from newsletter.config import Settings
from newsletter.errors import InputError
from newsletter.ingest import Fetcher, SourceReport, fetch_policy, ingest_sources
from newsletter.ingest.exports import write_export
from newsletter.ingest.records import ReviewRecord
from newsletter.issues.catalog import ReviewHit, search_reviews
from newsletter.models import Review
from newsletter.services.context import Context


def sources_to_ingest(settings: Settings, sources: list[str]) -> list[str]:
    """``sources``, else ``NEWSLETTER_SOURCES``; :class:`InputError` when there is none at all
    (checked before anything opens the database)."""
    chosen = list(sources) or list(settings.sources)
    if not chosen:
        raise InputError("no sources: pass SOURCE... or set NEWSLETTER_SOURCES")
    return chosen


def ingest(ctx: Context, sources: list[str], fmt: str | None = None) -> list[SourceReport]:
    """Ingest each source (default: ``NEWSLETTER_SOURCES``) in a transaction of its own; one
    failing source never stops the others."""
    settings = ctx.settings
    chosen = sources_to_ingest(settings, sources)
    policy = fetch_policy(settings.site_url, settings.fetch_timeout, settings.fetch_max_bytes)
    with Fetcher(policy) as fetcher:
        return ingest_sources(ctx.factory, chosen, settings.site_url, fmt, fetcher)


def export(ctx: Context, fmt: str, out: TextIO) -> int:
    """Every stored review, oldest first, in the canonical flat form (``jsonl`` or ``csv``)."""
    with ctx.factory() as session:
        rows = session.scalars(select(Review).order_by(Review.published_at, Review.id))
        return write_export((ReviewRecord.from_row(r) for r in rows), fmt, out)


def search(ctx: Context, text: str, limit: int = 20) -> list[ReviewHit]:
    """Stored reviews whose title or URL holds every word of ``text``, newest first."""
    with ctx.factory() as session:
        return search_reviews(session, text, limit)
