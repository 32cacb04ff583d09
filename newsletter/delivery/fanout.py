"""Fan-out: one delivery row per eligible recipient, created in bulk, and the variants they need.

``start_send`` runs inside the caller's transaction: the ``INSERT ... SELECT`` of delivery rows,
the rendering of each variant and the issue's move to ``sending`` commit together or not at all.
Work is handed to workers only after that commit (``send_issue``), so a worker never looks for
rows that do not exist yet (the Indico rule: queue after commit).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    String,
    and_,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql import ColumnElement

from newsletter.clicks import link_registry
from newsletter.compose.content import Branding
from newsletter.compose.render import render_variant
from newsletter.compose.tracking import track
from newsletter.config import Settings
from newsletter.db import transaction
from newsletter.delivery.claim import claimable
from newsletter.delivery.dispatch import Dispatcher
from newsletter.errors import WorkError
from newsletter.issues import get_issue, load_content
from newsletter.models import (
    Delivery,
    DeliveryState,
    Issue,
    IssueStatus,
    IssueVariant,
    Subscriber,
    SubscriberStatus,
    Suppression,
)
from newsletter.sections import mask_of
from newsletter.subscribers.tokens import Signer, load_secret


@dataclass(frozen=True)
class FanoutResult:
    issue_id: int
    recipients: int  # delivery rows created by this call
    variants: int
    batches: int


def message_id_parts(week_key: str, issue_id: int, domain: str) -> tuple[str, str]:
    """What goes before and after the subscriber id in a Message-ID (RFC 5322 3.6.4):
    ``<nl.{week}.{issue}.{subscriber}@{domain}>``, deterministic per (issue, subscriber)."""
    return f"<nl.{week_key}.{issue_id}.", f"@{domain}>"


def message_id(week_key: str, issue_id: int, subscriber_id: int, domain: str) -> str:
    prefix, suffix = message_id_parts(week_key, issue_id, domain)
    return f"{prefix}{subscriber_id}{suffix}"


def eligible_subscribers(issue_mask: int) -> ColumnElement[bool]:
    """SQL condition: confirmed, not suppressed, and some card of the issue in their picks
    (mask 0 means every section; cards in no section, "Other", reach only those)."""
    return and_(
        Subscriber.status == SubscriberStatus.CONFIRMED,
        ~exists().where(Suppression.email_key == Subscriber.email_key),
        or_(Subscriber.category_mask == 0, Subscriber.category_mask.op("&")(issue_mask) != 0),
    )


def start_send(session: Session, settings: Settings, issue_id: int, now: datetime) -> FanoutResult:
    # Lock the issue row (PostgreSQL; SQLite's BEGIN IMMEDIATE already serializes): two ticks
    # or a tick and an operator starting the same issue take turns, and the second one sees
    # it sending and stops.
    session.get(Issue, issue_id, with_for_update=True)
    issue = get_issue(session, issue_id)
    if issue.status not in (IssueStatus.DRAFT, IssueStatus.SCHEDULED):
        raise WorkError(f"issue {issue_id} is {issue.status.value}; only a draft can be sent")
    content = load_content(session, issue_id, settings.timezone)
    if not content.cards:
        raise WorkError(f"issue {issue_id} has no reviews left to send")
    issue_mask = mask_of(c.category for c in content.cards)
    variant = case(
        (Subscriber.category_mask == 0, literal(0)),
        else_=Subscriber.category_mask.op("&")(issue_mask),
    )
    prefix, suffix = message_id_parts(issue.week_key, issue.id, settings.mail_domain)
    message_id = literal(prefix) + cast(Subscriber.id, String) + literal(suffix)
    already = exists().where(Delivery.issue_id == issue.id, Delivery.subscriber_id == Subscriber.id)
    rows = select(
        literal(issue.id),
        Subscriber.id,
        variant,
        literal(DeliveryState.QUEUED.value),
        literal(0),
        message_id,
        literal(now, type_=Delivery.__table__.c.created_at.type),
    ).where(eligible_subscribers(issue_mask), ~already)
    count = select(func.count()).where(Delivery.issue_id == issue.id)
    before = session.scalar(count) or 0
    session.execute(
        insert(Delivery).from_select(
            [
                "issue_id",
                "subscriber_id",
                "variant_mask",
                "state",
                "attempts",
                "message_id",
                "created_at",
            ],
            rows,
        )
    )
    # Counted, not read from rowcount: SQLAlchemy 2.1 with psycopg reports -1 for
    # INSERT ... SELECT.
    created = (session.scalar(count) or 0) - before
    if created == 0 and before == 0:
        # Nobody to send to: say so and keep the draft (the caller's transaction rolls back),
        # instead of an issue stuck in "sending" that no batch will ever finish.
        raise WorkError(
            f"issue {issue_id}: no eligible subscribers (confirmed, not suppressed, with a "
            "section this issue covers); nothing sent, the draft is kept"
        )
    masks = set(
        session.scalars(
            select(Delivery.variant_mask).where(Delivery.issue_id == issue.id).distinct()
        )
    )
    brand = Branding.from_settings(settings)
    links = link_registry(session, Signer(load_secret(settings)), issue.id)
    for mask in sorted(masks):
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
    issue.status = IssueStatus.SENDING
    issue.updated_at = now
    pending = (
        session.scalar(
            select(func.count()).where(
                Delivery.issue_id == issue.id, Delivery.state == DeliveryState.QUEUED
            )
        )
        or 0
    )
    return FanoutResult(issue.id, created, len(masks), math.ceil(pending / settings.batch_size))


def send_issue(
    factory: sessionmaker[Session],
    settings: Settings,
    issue_id: int,
    dispatcher: Dispatcher,
    now: datetime,
) -> FanoutResult:
    """Create the deliveries of a draft, commit, then hand the batches to ``dispatcher``.

    On an issue already sending this continues it: whatever is due (retries whose time has
    come, rows of a worker that died) is dispatched again; nothing is created twice.
    """
    with transaction(factory) as session:
        if get_issue(session, issue_id).status is IssueStatus.SENDING:
            due = (
                session.scalar(
                    select(func.count()).where(Delivery.issue_id == issue_id, claimable(now))
                )
                or 0
            )
            result = FanoutResult(issue_id, 0, 0, math.ceil(due / settings.batch_size))
        else:
            result = start_send(session, settings, issue_id, now)
    dispatcher.dispatch(result.issue_id, result.batches)
    return result
