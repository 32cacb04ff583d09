"""What guards every request and response: CSRF tokens on every form but the RFC 8058
one-click POST, a foreign Origin refused, request and name sizes, and the security headers
on every page."""

from __future__ import annotations

import email
import re
from email import policy

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.db import transaction
from newsletter.mail.memory import MemoryTransport
from newsletter.models import DeliveryOpen, Event, Subscriber, SubscriberStatus, utcnow
from newsletter.tokens import Signer
from newsletter.web import create_app
from tests.helpers.factories import issue_with, review, send_now
from tests.helpers.web import form_token, settle, submit


def confirmed(factory: sessionmaker[Session], address: str) -> int:
    with transaction(factory) as session:
        row = Subscriber(
            email=address,
            email_key=address,
            status=SubscriberStatus.CONFIRMED,
            created_at=utcnow(),
        )
        session.add(row)
        session.flush()
        return row.id


def status(factory: sessionmaker[Session], ident: int) -> SubscriberStatus:
    with factory() as session:
        row = session.get(Subscriber, ident)
        assert row is not None
        return row.status


def signer(settings: Settings) -> Signer:
    return Signer((settings.secret_key or "").encode())


def test_every_form_needs_its_token(
    client: FlaskClient,
    settings: Settings,
    factory: sessionmaker[Session],
    transport: MemoryTransport,
) -> None:
    ident = confirmed(factory, "jo@example.com")
    unsubscribe = f"/u/{signer(settings).make('unsubscribe', str(ident))}"
    prefs = f"/p/{signer(settings).make('preferences', str(ident))}"
    client.get("/subscribe")  # a session, but no token in the post: a cross-site form
    for path, data in [
        ("/subscribe", {"email": "victim@example.com"}),
        (unsubscribe, {}),
        (prefs, {"name": "Mallory"}),
        (unsubscribe, {"csrf_token": "forged"}),
    ]:
        answer = client.post(path, data=data)
        assert answer.status_code == 400, path
        assert b"This form has expired" in answer.data and b"Nothing was changed" in answer.data
    settle(client)
    assert transport.sent == []
    assert status(factory, ident) is SubscriberStatus.CONFIRMED
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 1
        row = session.get(Subscriber, ident)
        assert row is not None and row.name is None
    # a token taken from another session does not work in this one
    with client.application.test_client() as other:
        stolen = form_token(other)
    answer = client.post("/subscribe", data={"email": "v@example.com", "csrf_token": stolen})
    assert answer.status_code == 400


def test_the_one_click_post_needs_no_token_nor_cookie(
    client: FlaskClient, settings: Settings, factory: sessionmaker[Session]
) -> None:
    """RFC 8058: the mail provider posts with no cookie; the signed URL authenticates it."""
    ident = confirmed(factory, "ke@example.com")
    path = f"/u/{signer(settings).make('unsubscribe', str(ident))}"
    answer = client.post(
        path,
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert answer.status_code == 200 and "Set-Cookie" not in answer.headers
    assert status(factory, ident) is SubscriberStatus.UNSUBSCRIBED


def test_a_form_posted_from_another_site_is_refused(
    client: FlaskClient, factory: sessionmaker[Session], transport: MemoryTransport
) -> None:
    token = form_token(client)
    fields = {"email": "lu@example.com", "csrf_token": token}
    answer = client.post("/subscribe", data=fields, headers={"Origin": "https://evil.example"})
    assert answer.status_code == 403 and b"another site" in answer.data
    # our own origin, and "null" (what no-referrer makes browsers send), go through
    for origin in ("https://news.example.org", "null"):
        answer = client.post("/subscribe", data=fields, headers={"Origin": origin})
        assert answer.status_code == 200, origin
    settle(client)
    assert transport.recipients == ["lu@example.com"]


def test_a_huge_request_gets_413_and_a_long_name_a_clear_refusal(
    client: FlaskClient, factory: sessionmaker[Session], transport: MemoryTransport
) -> None:
    token = form_token(client)
    huge = {"email": "mo@example.com", "name": "x" * 30_000_000, "csrf_token": token}
    answer = client.post("/subscribe", data=huge)
    assert answer.status_code == 413
    assert b"more than 64 KB" in answer.data and len(answer.data) < 4096
    long_name = submit(client, "/subscribe", {"email": "mo@example.com", "name": "Zoë" * 34})
    assert long_name.status_code == 400
    assert b"at most 100 characters" in long_name.data
    fine = submit(client, "/subscribe", {"email": "mo@example.com", "name": "Zoë" * 33})
    assert fine.status_code == 200
    assert transport.recipients == ["mo@example.com"]
    with factory() as session:
        assert session.scalar(select(Subscriber.name)) == "Zoë" * 33


def test_an_unknown_or_malformed_issue_number_still_unsubscribes(
    client: FlaskClient, settings: Settings, factory: sessionmaker[Session]
) -> None:
    """``?i=`` is unsigned: it labels the event when it names an issue, else it is dropped."""
    issue_id = issue_with(factory, settings, [review("a", "Film")], ["no@example.com"])
    people = [confirmed(factory, f"u{n}@example.com") for n in range(5)]
    tails = ["?i=999999", "?i=99999999999999999999", "?i=-1", "?i=abc", f"?i={issue_id}"]
    for ident, tail in zip(people, tails, strict=True):
        path = f"/u/{signer(settings).make('unsubscribe', str(ident))}{tail}"
        answer = client.post(
            path,
            data="List-Unsubscribe=One-Click",
            content_type="application/x-www-form-urlencoded",
        )
        assert answer.status_code == 200, tail
        assert status(factory, ident) is SubscriberStatus.UNSUBSCRIBED, tail
    page = submit(client, f"/u/{signer(settings).make('unsubscribe', str(people[0]))}?i=7777")
    assert page.status_code == 200
    with factory() as session:
        labels = session.execute(
            select(Event.subscriber_id, Event.issue_id).where(Event.kind == "unsubscribe")
        ).all()
    assert sorted(labels) == sorted([(p, None) for p in people[:4]] + [(people[4], issue_id)])


def test_the_open_pixel_counts_nothing_while_opens_are_not_tracked(
    client: FlaskClient, settings: Settings, factory: sessionmaker[Session]
) -> None:
    """A message sent while opens were tracked, opened after tracking was turned off: the
    pixel still loads, and counts nothing."""
    on = settings.with_overrides(track_opens=True)
    issue_id = issue_with(factory, on, [review("a", "Film")], ["op@example.com"])
    transport = MemoryTransport()
    send_now(factory, on, issue_id, transport)
    html = email.message_from_bytes(transport.sent[0][1], policy=policy.default)
    body = html.get_body(("html",))
    assert body is not None
    found = re.search(r'<img src="https://news\.example\.org(/o/[^"]+)"', body.get_content())
    assert found
    assert not settings.track_opens  # the client's app: tracking off
    for _ in range(2):
        answer = client.get(found.group(1))
        assert answer.status_code == 200 and answer.mimetype == "image/gif"
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(DeliveryOpen)) == 0
    tracking = create_app(on, factory=factory, transport=MemoryTransport()).test_client()
    assert tracking.get(found.group(1)).status_code == 200
    with factory() as session:  # the same pixel counts while tracking is on
        assert session.scalar(select(func.count()).select_from(DeliveryOpen)) == 1


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_every_page_sends_the_security_headers(
    client: FlaskClient, settings: Settings, factory: sessionmaker[Session], method: str
) -> None:
    ident = confirmed(factory, "qi@example.com")
    s = signer(settings)
    paths = [
        "/subscribe",
        f"/u/{s.make('unsubscribe', str(ident))}",
        f"/p/{s.make('preferences', str(ident))}",
        f"/confirm/{s.make('confirm', f'{ident}.0')}",
        "/u/forged.token",
        f"/v/{s.make('view', '999.1')}",
        "/c/forged/also-forged",
        "/o/forged.gif",
        "/no/such/page",
    ]
    for path in paths:
        answer = client.open(path, method=method)
        assert answer.status_code < 500, path
        headers = answer.headers
        policy = headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy, path
        assert "unsafe-inline" not in policy, path
        assert headers["X-Content-Type-Options"] == "nosniff", path
        assert headers["Referrer-Policy"] == "no-referrer", path
        assert headers["Cache-Control"].startswith("no-store"), path
        if b"<style" in answer.data:  # the page's own style is the one the policy allows
            nonce = policy.split("'nonce-")[1].split("'")[0]
            assert f'<style nonce="{nonce}">'.encode() in answer.data, path
    form = client.application.test_client().get("/subscribe")  # a first visit
    cookie = form.headers["Set-Cookie"]  # the form's CSRF session, and nothing else
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
