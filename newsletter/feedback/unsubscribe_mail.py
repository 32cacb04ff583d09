"""Unsubscribe requests by mail: the ``mailto:`` of ``List-Unsubscribe`` (RFC 2369).

Every message's ``List-Unsubscribe`` carries the reader's own address,
``unsubscribe+{issue}-{subscriber}-{sig}@domain`` (newsletter.mail.verp.UnsubscribeAddress).
Mail clients without RFC 8058 one-click (Apple Mail, Outlook, many others) send a message to
it; the MTA delivers plus-addressed mail to the ``unsubscribe@`` mailbox (Postfix
``recipient_delimiter = +``) and records where it went in ``Delivered-To`` or
``X-Original-To``. ``newsletter bounces process`` reads that mailbox with the bounces, and a
message to such an address is read here, not as a bounce.

What a request may do (the threat: anyone can mail the address, and a From is no proof):

- the **tag's signature** names the reader, so the request needs no particular From, Subject
  or body: a reader writing from another address, or a client that rewrites the subject
  (RFC 2369 makes the subject a hint), is still unsubscribed;
- a tag whose signature does not verify is ``unverified``, a signed tag for a preview or a
  test copy (subscriber 0) or for a subscriber since erased is ``unmatched``; a request to the
  bare address (no tag) names nobody and is ``unmatched`` too, unless it is a bounce (the
  bare address may share a mailbox with them). All of these are kept aside for a person.

Applying one is :func:`newsletter.subscribers.consent.unsubscribe`, what the web's one-click
does, with ``how="mail"`` and the tag's issue as the event's label: once unsubscribed, a second
request (another mail, the same mail read again) adds no event.
"""

from __future__ import annotations

import email.policy
from dataclasses import dataclass
from datetime import datetime
from email.parser import BytesHeaderParser
from email.utils import getaddresses

from sqlalchemy.orm import Session

from newsletter.mail.verp import NOBODY, Identified, UnsubscribeAddress
from newsletter.models import Issue, Subscriber
from newsletter.subscribers.consent import unsubscribe

UNSUBSCRIBED = "unsubscribed"  # the outcome recorded in bounce_reports, and counted
# newsletter.feedback.bounces's names (it imports this module, so they are repeated here)
_UNMATCHED, _UNVERIFIED = "unmatched", "unverified"
HOW = "mail"  # the event's label (the web's are "one-click" and "page")

# Where an MTA records the address it delivered to (Postfix: Delivered-To and X-Original-To;
# Exim: Envelope-To; others X-Envelope-To), then where the writer addressed it.
_ADDRESSED = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To", "Cc")
_MAX_ADDRESSES = 50  # a request names one address; a header full of them is no request


@dataclass(frozen=True)
class Request:
    """The addresses of the unsubscribe mailbox that one message was sent or delivered to."""

    readers: tuple[Identified, ...]  # signed tags that verify, one per delivery
    forged: tuple[str, ...]  # tags whose signature does not verify
    bare: bool  # sent to the mailbox's bare address

    @property
    def tagged(self) -> bool:
        return bool(self.readers or self.forged)


def find_request(raw: bytes, mailbox: UnsubscribeAddress) -> Request | None:
    """The request in ``raw``, or None when it was not addressed to the unsubscribe mailbox.
    Reads the header only."""
    head = BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
    values = [str(v) for name in _ADDRESSED for v in head.get_all(name, [])]
    readers: dict[tuple[int | None, int], Identified] = {}
    forged: list[str] = []
    bare = False
    for _name, address in getaddresses(values)[:_MAX_ADDRESSES]:
        found = mailbox.read(address)
        if found is None:
            continue
        if found.ids is not None:
            readers.setdefault((found.ids.issue_id, found.ids.subscriber_id), found.ids)
        elif found.tag is not None:
            forged.append(found.tag)
        else:
            bare = True
    if not (readers or forged or bare):
        return None
    return Request(tuple(readers.values()), tuple(dict.fromkeys(forged)), bare)


@dataclass(frozen=True)
class Applied:
    """What a tagged request came to: ``outcome`` unsubscribed, unverified or unmatched."""

    outcome: str
    reason: str | None
    issue_id: int | None = None
    subscriber_id: int | None = None


NO_TAG = (
    "an unsubscribe request to the bare address names no reader (no signed tag): "
    "unsubscribe them by hand if they are one"
)


def apply_request(session: Session, request: Request, now: datetime) -> Applied:
    """Unsubscribe every reader ``request`` names with a valid signature, inside the caller's
    transaction; idempotent (a reader already unsubscribed gets no second event)."""
    done: list[Applied] = []
    for ids in request.readers:
        if ids.subscriber_id == NOBODY:
            done.append(Applied(_UNMATCHED, "the address of a preview or a test copy"))
            continue
        # locked: two requests from one reader in two runs at once must add one event
        subscriber = session.get(Subscriber, ids.subscriber_id, with_for_update=True)
        if subscriber is None:
            done.append(Applied(_UNMATCHED, "no such subscriber (erased since?)"))
            continue
        issue_id = ids.issue_id if session.get(Issue, ids.issue_id) is not None else None
        changed = unsubscribe(session, subscriber, now, how=HOW, issue_id=issue_id)
        note = None if changed else "already unsubscribed"
        done.append(Applied(UNSUBSCRIBED, note, issue_id, subscriber.id))
    applied = [a for a in done if a.outcome == UNSUBSCRIBED]
    if applied:
        first = applied[0]
        if len(applied) > 1:
            names = ", ".join(str(a.subscriber_id) for a in applied)
            return Applied(UNSUBSCRIBED, f"several readers: {names}", first.issue_id)
        return first
    if done:
        return done[0]
    tags = ", ".join(request.forged)[:300]
    return Applied(_UNVERIFIED, f"an unsubscribe tag whose signature does not verify: {tags}")
