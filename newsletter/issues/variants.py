"""An issue's variants, composed once for sending and stored with it.

A variant is the issue as one set of sections gets it (a recipient's category mask, ANDed
with the sections the issue covers; 0 is everything). At the start of a send each variant the
recipients need is rendered and CSS-inlined once (:mod:`newsletter.compose.render`), its links
sent through the click redirect when tracking is on (:mod:`newsletter.compose.tracking`), and
stored in ``issue_variants`` with the issue's version: workers build every message from these
rows and never render. This runs in the transaction that creates the delivery rows, so the
rows and their variants commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.orm import Session

from newsletter.compose.content import Branding, IssueContent
from newsletter.compose.render import RenderedVariant, render_variant
from newsletter.compose.tracking import track
from newsletter.config import Settings
from newsletter.issues.links import link_registry
from newsletter.models import Issue, IssueVariant
from newsletter.tokens import Signer, load_secret


def stored_variant(row: IssueVariant) -> RenderedVariant:
    """A stored variant as the plain data composition works on."""
    return RenderedVariant(row.mask, row.subject, row.html, row.text, row.nonce)


def compose_variants(
    session: Session,
    settings: Settings,
    issue: Issue,
    content: IssueContent,
    masks: Iterable[int],
    now: datetime,
) -> int:
    """Render, track and store the variant of each mask; returns how many."""
    brand = Branding.from_settings(settings)
    links = link_registry(session, Signer(load_secret(settings)), issue.id)
    count = 0
    for mask in sorted(set(masks)):
        rendered = render_variant(content, mask, brand)
        if settings.track_clicks or settings.track_opens:
            rendered = track(
                rendered,
                settings.base_url,
                links if settings.track_clicks else lambda _url: None,
                pixel=settings.track_opens,
            )
        session.merge(
            IssueVariant(
                issue_id=issue.id,
                mask=mask,
                version=issue.version,
                subject=rendered.subject,
                html=rendered.html,
                text=rendered.text,
                nonce=rendered.nonce,
                created_at=now,
            )
        )
        count += 1
    return count
