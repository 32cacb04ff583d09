"""Public services: the archive of sent issues, and the publication's branding for its pages.

Nothing here needs a login or a token: what it returns is meant for anyone (see
:mod:`newsletter.issues.archive` for what an archive copy leaves out).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from newsletter.compose.colors import WHITE, contrast, readable_text
from newsletter.compose.render import safe_url
from newsletter.issues.archive import ArchiveEntry, sent_issues
from newsletter.issues.archive import archive_copy as render_archive_copy
from newsletter.services.context import Context

__all__ = ["ArchiveEntry", "Brand", "archive_copy", "branding", "list_archive"]

INK = "#111111"
MIN_TEXT_CONTRAST = 4.5  # WCAG AA for body-size text
HOST = re.compile(r"[A-Za-z0-9.-]+(?::\d{1,5})?")


def list_archive(ctx: Context, *, limit: int | None = None) -> list[ArchiveEntry]:
    """Sent issues, newest first (the ``limit`` newest, when given)."""
    with ctx.factory() as session:
        return sent_issues(session, ctx.settings, limit=limit)


def archive_copy(ctx: Context, week_key: str) -> str:
    """The HTML of ``week_key``'s sent issue as anyone may read it (every section, no
    tracking, no personal link). :class:`~newsletter.errors.NotFound` for a week not in the
    archive (malformed, never built, or not sent)."""
    with ctx.factory() as session:
        return render_archive_copy(session, ctx.settings, week_key)


@dataclass(frozen=True)
class Brand:
    """What the public pages show of the publication.

    ``accent`` fills buttons and the top rule, with ``on_accent`` (black or white, whichever
    contrasts more) as their text; ``link`` is the accent when it is dark enough to read on
    white, else near-black. ``logo_url`` is an https URL or None, and ``logo_source`` its
    origin (``https://host[:port]``), which the pages' Content-Security-Policy must allow."""

    site_name: str
    site_url: str
    logo_url: str | None
    accent: str
    on_accent: str
    link: str
    postal_address: str
    logo_source: str | None = None


def branding(ctx: Context) -> Brand:
    settings = ctx.settings
    accent = settings.accent_color
    readable = contrast(accent, WHITE) >= MIN_TEXT_CONTRAST
    logo = safe_url(settings.logo_url)
    host = urlsplit(logo).netloc
    # The origin goes into a header: a host that is not plainly one drops the logo instead.
    source = f"https://{host}" if logo and HOST.fullmatch(host) else None
    return Brand(
        site_name=settings.site_name,
        site_url=settings.site_url,
        logo_url=logo if source else None,
        accent=accent,
        on_accent=readable_text(accent),
        link=accent if readable else INK,
        postal_address=settings.postal_address,
        logo_source=source,
    )
