"""Edges of sign-up found in review: who the per-client limit counts, HSTS under https, two
sign-ups of one new address at once, and confirmations still queued at shutdown."""

from __future__ import annotations

import threading
from datetime import timedelta

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.db import transaction
from newsletter.jobs.confirmations import ConfirmationQueue, Handed
from newsletter.models import Subscriber, SubscriberStatus, utcnow
from newsletter.services import Context
from newsletter.services import subscribers as people
from newsletter.web.guards import client_address


def _client(app: Flask, peer: str, forwarded: str | None = None) -> str:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    with app.test_request_context(
        "/subscribe", method="POST", environ_base={"REMOTE_ADDR": peer}, headers=headers
    ):
        return client_address()


def test_the_per_client_key(app: Flask) -> None:
    # an IPv6 client is counted by its /64: cycling through its 2^64 addresses gains nothing
    assert _client(app, "2001:db8:1:2::a") == _client(app, "2001:db8:1:2:ffff::1")
    assert _client(app, "2001:db8:1:2::a") == "2001:db8:1:2::/64"
    assert _client(app, "2001:db8:1:3::a") != _client(app, "2001:db8:1:2::a")
    # behind our proxy (loopback) the last forwarded entry counts, if it is an address
    assert _client(app, "127.0.0.1", "198.51.100.7, 203.0.113.9") == "203.0.113.9"
    assert _client(app, "10.1.2.3", "203.0.113.9") == "203.0.113.9"
    assert _client(app, "127.0.0.1", "anything-i-like") == "127.0.0.1"
    # from anywhere else a forwarded header is the client's own words: ignored
    assert _client(app, "93.184.216.34", "198.51.100.7") == "93.184.216.34"
    assert _client(app, "2001:0:4136:e378::1", "198.51.100.7") == "2001:0:4136:e378::/64"


def test_https_pages_ask_browsers_to_stay_on_https(app: Flask) -> None:
    response = app.test_client().get("/subscribe")
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_two_sign_ups_of_one_new_address_at_once_answer_alike(services: Context) -> None:
    """On PostgreSQL the loser of the insert race hit the unique key: a 500 that only an
    address not yet on the list could give. Each now gets the ordinary answer."""
    outcomes: list[object] = []
    start = threading.Barrier(6)

    def sign_up() -> None:
        start.wait()
        try:
            done = people.sign_up(services, "race@example.com", None, [], source="web")
            outcomes.append(done.result.outcome)
        except Exception as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=sign_up) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    with services.factory() as session:
        rows = session.scalars(select(Subscriber).where(Subscriber.email_key == "race@example.com"))
        assert len(list(rows)) == 1


class Stuck:
    """A hand-over that never finishes in time (a mail server that hangs)."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def submit(self, subscriber_id: int) -> Handed:
        self.release.wait(5)
        return Handed(sent=True)


def test_confirmations_left_at_shutdown_are_withdrawn(
    factory: sessionmaker[Session],
) -> None:
    """The process stops before the queue is drained: the requests left are withdrawn, so
    those people may ask again at once instead of waiting an hour for a mail never sent."""
    asked = utcnow() - timedelta(minutes=1)
    ids = []
    with transaction(factory) as session:
        for n in range(3):
            row = Subscriber(
                email=f"p{n}@example.com",
                email_key=f"p{n}@example.com",
                status=SubscriberStatus.PENDING,
                created_at=asked,
                confirm_sent_at=asked,
            )
            session.add(row)
            session.flush()
            ids.append(row.id)
    inner = Stuck()
    confirmations = ConfirmationQueue(inner, factory)
    for ident in ids:
        confirmations.submit(ident)
    confirmations.close(timeout=0.2)  # the first is stuck in the hand-over
    inner.release.set()
    with factory() as session:
        sent_at = {r.id: r.confirm_sent_at for r in session.scalars(select(Subscriber))}
    assert sent_at[ids[1]] is None and sent_at[ids[2]] is None  # withdrawn
