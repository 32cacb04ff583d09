"""Feedback services: what comes back from readers and mail systems (bounces, complaints,
clicks, opens)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from newsletter.db import transaction
from newsletter.feedback.bounce_run import BounceRun, process_mailbox
from newsletter.feedback.bounces import BouncePolicy
from newsletter.feedback.clicks import record_click, record_open, resolve_link
from newsletter.feedback.mailboxes import open_mailbox
from newsletter.services.context import Context

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BounceResult:
    mailbox: str  # the mailbox's name, as read
    run: BounceRun
    aside: Path  # where reports that were not applied were kept


def process_bounces(
    ctx: Context, source: str, *, aside: Path | None = None, delete: bool = False
) -> BounceResult:
    """Apply every bounce and complaint report and every unsubscribe request by mail in
    ``source`` (a maildir, an mbox, ``imap`` or an imap(s):// URL), one transaction each;
    idempotent. :class:`ConfigError` when NEWSLETTER_UNSUBSCRIBE_ADDRESS cannot carry a
    reader's tag or is the bounce address."""
    settings = ctx.settings
    limit = settings.bounce_max_bytes
    box = open_mailbox(source, settings.bounce_imap_url, delete=delete, limit=limit)
    folder = aside or settings.data_dir / "bounces" / "aside"
    try:
        run = process_mailbox(
            ctx.factory, box, BouncePolicy.from_settings(settings), folder, ctx.clock()
        )
    finally:
        box.close()
    return BounceResult(box.name, run, folder)


def follow_link(ctx: Context, link: str, recipient: str, *, count: bool = True) -> str:
    """Where a tracked link leads (only ever a URL the issue holds), counting the click once
    per recipient and link unless ``count`` is off (a HEAD from a link checker). A forged
    link raises :class:`BadToken`; a failure to count is logged, and the reader still gets
    where they were going."""
    if count:
        try:
            with transaction(ctx.factory) as session:
                return record_click(
                    session, ctx.signer, link, recipient, ctx.clock(), ctx.settings.timezone
                ).url
        except SQLAlchemyError:
            log.exception("could not record a click")
    with ctx.factory() as session:
        return resolve_link(session, ctx.signer, link).url


def count_open(ctx: Context, recipient: str) -> bool:
    """Count the first load of the open pixel; a bad token counts nothing, and neither does a
    failure of the database (logged: a pixel must load whatever happens)."""
    try:
        with transaction(ctx.factory) as session:
            return record_open(session, ctx.signer, recipient, ctx.clock())
    except SQLAlchemyError:
        log.exception("could not record an open")
        return False
