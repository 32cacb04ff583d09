"""An issue's tracked links: each distinct URL of an issue becomes one ``issue_links`` row
(shared by all its variants), named by a signed token in the click redirect
(``/c/<link>/<recipient>``). The URL lives in the row, never in the token, so the redirect can
only lead to a URL the issue itself contains. Clicks through them are recorded by
:mod:`newsletter.feedback.clicks`."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.ingest.urls import url_key
from newsletter.models import IssueLink, Review
from newsletter.tokens import Signer


def link_registry(session: Session, signer: Signer, issue_id: int) -> Callable[[str], str]:
    """``url -> link token`` for ``issue_id``, creating ``issue_links`` rows as needed (the
    ``link_token`` function :func:`newsletter.compose.tracking.track` takes)."""
    known: dict[str, int] = {
        url: link_id
        for link_id, url in session.execute(
            select(IssueLink.id, IssueLink.url).where(IssueLink.issue_id == issue_id)
        ).all()
    }

    def token(url: str) -> str:
        if url not in known:
            key = url_key(url)
            review_id = (
                session.scalar(select(Review.id).where(Review.url_key == key).limit(1))
                if key
                else None
            )
            link = IssueLink(issue_id=issue_id, url=url, review_id=review_id)
            session.add(link)
            session.flush()
            known[url] = link.id
        return signer.make("link", str(known[url]))

    return token
