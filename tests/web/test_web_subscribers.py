"""The subscriber pages through Flask's test client on a real database: double opt-in, links
that never act on GET, RFC 8058 one-click unsubscribe, tampered tokens, preferences, and an
unsubscribe in the middle of a send."""

from __future__ import annotations

import email
import re
from datetime import timedelta
from email import policy

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.db import transaction
from newsletter.delivery.fanout import start_send
from newsletter.delivery.sender import Sender
from newsletter.mail.memory import MemoryTransport
from newsletter.models import (
    Delivery,
    DeliveryState,
    Subscriber,
    SubscriberStatus,
    Suppression,
    SuppressionReason,
    utcnow,
)
from newsletter.sections import mask_of
from newsletter.subscribers import consent
from newsletter.tokens import BadToken, Signer
from tests.helpers.factories import issue_with, review
from tests.helpers.web import settle, submit


def signer(settings: Settings) -> Signer:
    assert settings.secret_key
    return Signer(settings.secret_key.encode())


def who(factory: sessionmaker[Session], address: str) -> Subscriber:
    with factory() as session:
        row = session.scalar(select(Subscriber).where(Subscriber.email_key == address))
        assert row is not None
        session.expunge(row)
        return row


def confirm_link(transport: MemoryTransport, index: int = -1) -> str:
    raw = transport.sent[index][1]
    message = email.message_from_bytes(raw, policy=policy.default)
    text = message.get_body(("plain",))
    assert text is not None
    found = re.search(r"https://news\.example\.org(/confirm/\S+)", text.get_content())
    assert found, text.get_content()
    return found.group(1)


def test_double_opt_in(
    client: FlaskClient, factory: sessionmaker[Session], transport: MemoryTransport
) -> None:
    page = submit(
        client,
        "/subscribe",
        data={"email": " Ana@Example.COM ", "name": "Ana Lima", "categories": ["Film", "Anime"]},
    )
    assert page.status_code == 200 and b"Check your inbox" in page.data
    ana = who(factory, "ana@example.com")
    assert ana.status is SubscriberStatus.PENDING
    assert ana.category_mask == mask_of(["Film", "Anime"])
    assert transport.recipients == ["ana@example.com"]
    raw = transport.sent[0][1]
    assert b"Subject: Confirm your subscription to Reviews Weekly" in raw
    link = confirm_link(transport)
    # a GET (a mail scanner, a link preview) shows a button and changes nothing
    shown = client.get(link)
    assert shown.status_code == 200 and b'<form method="post">' in shown.data
    assert who(factory, "ana@example.com").status is SubscriberStatus.PENDING
    done = submit(client, link)
    assert done.status_code == 200 and b"You are subscribed" in done.data
    assert who(factory, "ana@example.com").status is SubscriberStatus.CONFIRMED
    assert b"Already confirmed" in submit(client, link).data
    assert "Set-Cookie" not in done.headers  # Headers look up case-insensitively


def test_signing_up_again_resends_at_most_once_an_hour(
    settings: Settings, factory: sessionmaker[Session]
) -> None:
    now = utcnow()
    outcomes = []
    for minutes in (0, 10, 59, 61, 70):
        with transaction(factory) as session:
            result = consent.subscribe(
                session, "bo@example.com", None, [], now + timedelta(minutes=minutes)
            )
            outcomes.append(result.outcome)
    assert outcomes == [
        consent.Signup.NEW,
        consent.Signup.THROTTLED,
        consent.Signup.THROTTLED,
        consent.Signup.RESENT,
        consent.Signup.THROTTLED,
    ]


def test_confirm_links_expire_and_a_newer_request_voids_the_older(
    settings: Settings, factory: sessionmaker[Session]
) -> None:
    s = signer(settings)
    now = utcnow()
    with transaction(factory) as session:
        first = consent.subscribe(session, "cy@example.com", None, [], now)
        row = session.get(Subscriber, first.subscriber_id)
        assert row is not None
        old = consent.confirm_token(s, row)
    with transaction(factory) as session:
        consent.subscribe(session, "cy@example.com", None, [], now + timedelta(hours=2))
        row = session.get(Subscriber, first.subscriber_id)
        assert row is not None
        new = consent.confirm_token(s, row)
    with factory() as session, pytest.raises(BadToken, match="replaced"):
        consent.confirm(session, s, old, now + timedelta(hours=3))
    with factory() as session, pytest.raises(BadToken, match="expired"):
        consent.confirm(session, s, new, now + timedelta(days=8))
    with transaction(factory) as session:
        assert consent.confirm(session, s, new, now + timedelta(days=6))
    assert who(factory, "cy@example.com").status is SubscriberStatus.CONFIRMED


def tampered(token: str) -> str:
    payload, signature = token.split(".")
    return f"{payload}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"


def test_bad_tokens_change_nothing(
    client: FlaskClient, settings: Settings, factory: sessionmaker[Session]
) -> None:
    s = signer(settings)
    with transaction(factory) as session:
        row = Subscriber(
            email="di@example.com",
            email_key="di@example.com",
            status=SubscriberStatus.CONFIRMED,
            created_at=utcnow(),
        )
        session.add(row)
        session.flush()
        ident = str(row.id)
    good = s.make("unsubscribe", ident)
    forged = Signer(b"another key").make("unsubscribe", ident)
    other_purpose = s.make("preferences", ident)
    for token in (tampered(good), forged, other_purpose, "garbage", good[:-3]):
        answer = client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
        assert answer.status_code == 400, token
        assert b"Nothing was changed" in answer.data
    assert submit(client, f"/confirm/{s.make('unsubscribe', ident)}").status_code == 400
    assert client.get(f"/p/{tampered(s.make('preferences', ident))}").status_code == 400
    assert who(factory, "di@example.com").status is SubscriberStatus.CONFIRMED


def test_one_click_unsubscribe_from_the_list_unsubscribe_header(
    client: FlaskClient, settings: Settings, factory: sessionmaker[Session]
) -> None:
    """The URL in a real message's List-Unsubscribe header, POSTed the way RFC 8058 says."""
    issue_id = issue_with(factory, settings, [review("a", "Film")], ["ed@example.com"])
    with transaction(factory) as session:
        start_send(session, settings, issue_id, utcnow())
    transport = MemoryTransport()
    Sender(factory, settings, transport).run_batch(issue_id)
    message = email.message_from_bytes(transport.sent[0][1], policy=policy.default)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = re.search(r"<(https://[^>]+)>", str(message["List-Unsubscribe"]))
    assert url is not None
    path = url.group(1).removeprefix(settings.base_url)
    # a GET never unsubscribes (link scanners fetch every URL)
    for _ in range(3):
        assert client.get(path).status_code == 200
    assert who(factory, "ed@example.com").status is SubscriberStatus.CONFIRMED
    answer = client.post(
        path,
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert answer.status_code == 200  # no redirect: RFC 8058 clients do not follow one
    assert "Set-Cookie" not in answer.headers
    ed = who(factory, "ed@example.com")
    assert ed.status is SubscriberStatus.UNSUBSCRIBED and ed.unsubscribed_at is not None
    with factory() as session:
        entry = session.scalar(select(Suppression).where(Suppression.email_key == ed.email_key))
        assert entry is not None and entry.reason is SuppressionReason.UNSUBSCRIBED
    assert submit(client, path).status_code == 200  # again: still fine, nothing new


def test_coming_back_after_unsubscribing_needs_a_new_confirmation(
    client: FlaskClient,
    settings: Settings,
    factory: sessionmaker[Session],
    transport: MemoryTransport,
) -> None:
    submit(client, "/subscribe", {"email": "fe@example.com"})
    submit(client, confirm_link(transport))
    fe = who(factory, "fe@example.com")
    submit(client, f"/u/{signer(settings).make('unsubscribe', str(fe.id))}")
    assert who(factory, "fe@example.com").status is SubscriberStatus.UNSUBSCRIBED
    old_link = confirm_link(transport)
    assert submit(client, old_link).status_code == 400  # the old link does not undo it
    submit(client, "/subscribe", {"email": "fe@example.com"})
    assert len(transport.sent) == 2
    assert who(factory, "fe@example.com").status is SubscriberStatus.PENDING
    submit(client, confirm_link(transport))
    assert who(factory, "fe@example.com").status is SubscriberStatus.CONFIRMED
    with factory() as session:  # the person's new consent lifts their own unsubscribe
        assert (
            session.scalar(select(Suppression).where(Suppression.email_key == fe.email_key)) is None
        )


def test_a_bounced_address_gets_the_same_answer_and_no_mail(
    client: FlaskClient, factory: sessionmaker[Session], transport: MemoryTransport
) -> None:
    from newsletter.subscribers.suppression import suppress

    with transaction(factory) as session:
        suppress(session, "gi@example.com", SuppressionReason.HARD_BOUNCE, "550", utcnow())
    answer = submit(client, "/subscribe", {"email": "gi@example.com"})
    assert answer.status_code == 200 and b"Check your inbox" in answer.data
    settle(client)
    assert transport.sent == []


def test_a_bad_sign_up_is_refused_with_the_reason(
    client: FlaskClient, transport: MemoryTransport
) -> None:
    answer = submit(client, "/subscribe", {"email": "not an address"})
    assert answer.status_code == 400 and b"invalid email" in answer.data
    answer = submit(client, "/subscribe", {"email": "ok@example.com", "categories": "Opera"})
    assert answer.status_code == 400 and b"unknown category" in answer.data
    assert transport.sent == []


def test_preferences(
    client: FlaskClient, settings: Settings, factory: sessionmaker[Session]
) -> None:
    with transaction(factory) as session:
        row = Subscriber(
            email="hu@example.com",
            email_key="hu@example.com",
            status=SubscriberStatus.CONFIRMED,
            category_mask=mask_of(["TV"]),
            created_at=utcnow(),
        )
        session.add(row)
        session.flush()
        path = f"/p/{signer(settings).make('preferences', str(row.id))}"
    shown = client.get(path)
    assert shown.status_code == 200
    assert re.search(rb'value="TV"\s+checked', shown.data)
    saved = submit(client, path, {"name": "Hugo", "categories": ["Comics", "Tabletop"]})
    assert saved.status_code == 200 and b"Saved" in saved.data
    hu = who(factory, "hu@example.com")
    assert (hu.name, hu.category_mask) == ("Hugo", mask_of(["Comics", "Tabletop"]))
    refused = submit(client, path, {"categories": ["Opera"]})
    assert refused.status_code == 400
    assert who(factory, "hu@example.com").category_mask == mask_of(["Comics", "Tabletop"])


def test_unsubscribing_mid_send_stops_the_rest(
    client: FlaskClient, settings: Settings, factory: sessionmaker[Session]
) -> None:
    emails = [f"r{i}@example.com" for i in range(6)]
    small = settings.with_overrides(batch_size=2)
    issue_id = issue_with(factory, small, [review("a", "Film")], emails)
    with transaction(factory) as session:
        start_send(session, small, issue_id, utcnow())
    transport = MemoryTransport()
    sender = Sender(factory, small, transport)
    sender.run_batch(issue_id)  # r0 and r1 have theirs
    leaver = who(factory, "r4@example.com")
    submit(client, f"/u/{signer(settings).make('unsubscribe', str(leaver.id))}")
    while sender.run_batch(issue_id).claimed:
        pass
    assert "r4@example.com" not in transport.recipients
    assert sorted(transport.recipients) == sorted(set(emails) - {"r4@example.com"})
    with factory() as session:
        state = session.scalar(select(Delivery.state).where(Delivery.subscriber_id == leaver.id))
    assert state is DeliveryState.SKIPPED
