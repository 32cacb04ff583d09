"""Subscriber services: sign-up (the form and ``subscribers add``), confirmation, unsubscribe,
preferences, import, export and forget.

A sign-up is checked whole before the database is read (so a bad field gets the same answer
whoever the address belongs to), stored and committed, then its confirmation handed to
:attr:`Context.confirmations` (a worker's task when a broker is set, else sent here on a
transport of its own) or, for the web, to a :class:`ConfirmationQueue` that sends it after the
response. The consent rules themselves are :mod:`newsletter.subscribers.consent`'s.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from sqlalchemy.exc import IntegrityError

from newsletter.db import transaction
from newsletter.errors import FieldError
from newsletter.jobs.confirmations import ConfirmationQueue as ConfirmationQueue
from newsletter.jobs.confirmations import Confirmations, Handed
from newsletter.models import Issue, Subscriber, SubscriberStatus
from newsletter.sections import parse_picks, sections_of
from newsletter.services.context import Context
from newsletter.subscribers import consent
from newsletter.subscribers.consent import Channel, SignupResult
from newsletter.subscribers.export import write_csv
from newsletter.subscribers.parse import (
    ParsedSubscribers,
    SubscriberRow,
    address_field,
    clean_name,
    parse_subscribers,
)
from newsletter.subscribers.search import SubscriberHit, search_subscribers
from newsletter.subscribers.signup import withdraw_request
from newsletter.subscribers.store import ImportCounts, import_rows
from newsletter.subscribers.suppression import forget as forget_person
from newsletter.tokens import BadToken, derive_key


def picks(categories: str | list[str]) -> list[str]:
    """Sections from ``"film, anime"`` or a list of names; :class:`FieldError`
    (``categories``) naming an unknown one. Empty means every section."""
    text = categories if isinstance(categories, str) else ",".join(categories)
    try:
        return parse_picks(text)
    except ValueError as exc:
        raise FieldError("categories", str(exc)) from exc


NAME_MAX = 100  # characters: a first name, not a payload for the confirmation mail


def person_name(raw: str | None) -> str | None:
    """A name a person typed, tidied; :class:`FieldError` (``name``) when it is too long."""
    name = clean_name(raw)
    if name is not None and len(name) > NAME_MAX:
        raise FieldError("name", f"too long: at most {NAME_MAX} characters, please")
    return name


def address_key(ctx: Context, email: str) -> str:
    """What a sign-up's address is counted under for rate limits: an HMAC of the address as it
    would be stored (of the text as typed when it is not an address) under a key derived from
    the secret key, so the limiter's store (Redis) holds no address, nor a plain hash that a
    list of known addresses would reverse."""
    try:
        key = address_field(email)
    except FieldError:
        key = email.strip().lower()
    limit_key = derive_key(ctx.secret, "newsletter sign-up limit")
    return hmac.new(limit_key, key.encode(), hashlib.sha256).hexdigest()


def confirmation_queue(ctx: Context) -> ConfirmationQueue:
    """A queue that hands this context's confirmations over after the request (the web's)."""
    return ConfirmationQueue(ctx.confirmations, ctx.factory)


@dataclass(frozen=True)
class SignUp:
    result: SignupResult
    handed: Handed  # what became of the confirmation (nothing was sent when not needed)


def sign_up(
    ctx: Context,
    email: str,
    name: str | None,
    categories: str | list[str],
    *,
    source: str,
    channel: Channel = Channel.SELF,
    now: datetime | None = None,
    confirmations: Confirmations | None = None,
) -> SignUp:
    """Store a sign-up (double opt-in: pending until confirmed), commit, then hand its
    confirmation to ``confirmations`` (default: the context's). :class:`FieldError` for a bad
    ``email``, ``name`` or ``categories``, raised before the database is read: whether an
    address is known never changes which error, or whether any, a request gets."""
    key = address_field(email)
    name = person_name(name)
    chosen = picks(categories)
    when = now or ctx.clock()
    try:
        with transaction(ctx.factory) as session:
            result = consent.subscribe(
                session, key, name, chosen, when, source=source, channel=channel
            )
    except IntegrityError:
        # Two sign-ups of one new address at once (PostgreSQL): the other inserted it first.
        # Taken again, this one finds the row, so the answer is the same as for any known
        # address (a 500 here would tell that the address was not on the list).
        with transaction(ctx.factory) as session:
            result = consent.subscribe(
                session, key, name, chosen, when, source=source, channel=channel
            )
    if not result.send_confirmation or result.subscriber_id is None:
        return SignUp(result, Handed())
    try:
        handed = (confirmations or ctx.confirmations).submit(result.subscriber_id)
    except Exception as exc:  # the broker or the mail set-up could not take it: say so
        withdraw_request(ctx.factory, result.subscriber_id)
        handed = Handed(error=f"the confirmation could not be handed over: {exc}")
    return SignUp(result, handed)


def add_confirmed(
    ctx: Context, email: str, name: str | None, categories: str | list[str]
) -> tuple[str, ImportCounts]:
    """Add (or update) one address as confirmed: consent was gathered elsewhere. A suppressed
    address is not added (only the person can come back, through the sign-up form). Returns
    the address as stored, and what became of it."""
    key = address_field(email)
    row = SubscriberRow(0, key, clean_name(name), picks(categories), "confirmed")
    with transaction(ctx.factory) as session:
        counts = import_rows(session, [row], confirmed=True, source="cli", channel=Channel.OPERATOR)
    return key, counts


@dataclass(frozen=True)
class Imported:
    parsed: ParsedSubscribers
    counts: ImportCounts


def import_csv(ctx: Context, data: bytes, source: str, *, confirmed: bool) -> Imported:
    """Import a subscriber CSV in one transaction, or nothing of it (:class:`InputError` for
    a file that cannot be read whole). Pending unless ``confirmed``: the file's own status
    column never confirms anyone (newsletter.subscribers.consent.imported_status)."""
    parsed = parse_subscribers(data, source)
    with transaction(ctx.factory) as session:
        counts = import_rows(
            session, parsed.accepted, confirmed=confirmed, source=f"import:{source}"
        )
    return Imported(parsed, counts)


def export_csv(ctx: Context, out: TextIO) -> int:
    with ctx.factory() as session:
        return write_csv(session, out)


def forget(ctx: Context, email: str) -> tuple[str, bool]:
    """Erase a person's data, keeping a hashed suppression; (address, whether anything about
    them was stored)."""
    key = address_field(email)
    with transaction(ctx.factory) as session:
        return key, forget_person(session, key, ctx.clock())


# -- the subscriber's own links ---------------------------------------------------------------
def check_confirmation(ctx: Context, token: str) -> None:
    """:class:`BadToken` unless ``token`` is a live confirmation link (it changes nothing)."""
    ctx.signer.verify(token, "confirm", ctx.clock())


def confirm(ctx: Context, token: str) -> consent.Confirmation:
    with transaction(ctx.factory) as session:
        return consent.confirm(session, ctx.signer, token, ctx.clock())


PREVIEW_SUBJECT = "0"  # the "subscriber" of previews, test copies and the pre-flight sample


def is_dry_run(ctx: Context, token: str) -> bool:
    """Whether an unsubscribe link is a preview's (subscriber 0): the web app then answers as
    it would, and unsubscribes nobody, so the pre-flight check can POST to it. A bad token is
    not a dry run (it fails as usual)."""
    try:
        return ctx.signer.verify(token, "unsubscribe") == PREVIEW_SUBJECT
    except BadToken:
        return False


def unsubscribe_address(ctx: Context, token: str) -> str:
    """The address an unsubscribe link is for (it changes nothing)."""
    with ctx.factory() as session:
        return consent.subscriber_for(session, ctx.signer, token, "unsubscribe").email


def unsubscribe(ctx: Context, token: str, *, how: str, issue_id: int | None) -> str:
    """Unsubscribe (at once, idempotent); returns the address. ``issue_id`` (the unsigned
    ``?i=`` of the link) only labels the event: an unknown one is dropped, never a reason
    to keep someone subscribed."""
    with transaction(ctx.factory) as session:
        subscriber = consent.subscriber_for(session, ctx.signer, token, "unsubscribe")
        if issue_id is not None and (
            not 0 < issue_id < 2**31 or session.get(Issue, issue_id) is None
        ):
            issue_id = None
        consent.unsubscribe(session, subscriber, ctx.clock(), how=how, issue_id=issue_id)
        return subscriber.email


@dataclass(frozen=True)
class Preferences:
    email: str
    name: str
    picks: frozenset[str]
    active: bool


def _preferences(subscriber: Subscriber) -> Preferences:
    return Preferences(
        subscriber.email,
        subscriber.name or "",
        frozenset(sections_of(subscriber.category_mask)),
        subscriber.status is SubscriberStatus.CONFIRMED,
    )


def preferences(ctx: Context, token: str) -> Preferences:
    with ctx.factory() as session:
        return _preferences(consent.subscriber_for(session, ctx.signer, token, "preferences"))


def save_preferences(
    ctx: Context, token: str, name: str | None, categories: str | list[str]
) -> Preferences:
    """New name and picks (the next issue uses them). :class:`FieldError` (``categories``)
    or (``name``) changes nothing."""
    name = person_name(name)
    chosen = picks(categories)
    with transaction(ctx.factory) as session:
        subscriber = consent.subscriber_for(session, ctx.signer, token, "preferences")
        consent.update_preferences(session, subscriber, name, chosen)
        return _preferences(subscriber)


def search(ctx: Context, text: str, limit: int = 20) -> list[SubscriberHit]:
    """Subscribers whose address or name holds ``text`` (the desk's "as subscriber")."""
    with ctx.factory() as session:
        return search_subscribers(session, text, limit)
