"""'Forget me': a person's data goes, a hash of the address stays so nobody re-adds them."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.db import transaction
from newsletter.delivery.fanout import start_send
from newsletter.models import (
    Delivery,
    Event,
    Subscriber,
    SubscriberStatus,
    Suppression,
    SuppressionReason,
    utcnow,
)
from newsletter.subscribers import consent
from newsletter.subscribers.parse import SubscriberRow, email_hash
from newsletter.subscribers.store import import_rows
from newsletter.subscribers.suppression import forget, suppress
from tests.helpers.factories import issue_with, review


def count(factory: sessionmaker[Session], model: type) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_forget_erases_the_person_and_keeps_only_a_hash(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    issue_id = issue_with(factory, settings, [review("a", "Film")], ["jo@example.com", "ki@x.org"])
    with transaction(factory) as session:
        start_send(session, settings, issue_id, utcnow())
        jo = session.scalar(select(Subscriber).where(Subscriber.email_key == "jo@example.com"))
        assert jo is not None
        session.add(Event(kind="click", subscriber_id=jo.id, created_at=utcnow()))
    with transaction(factory) as session:
        assert forget(session, "jo@example.com", utcnow())
    with factory() as session:
        assert (
            session.scalar(select(Subscriber).where(Subscriber.email == "jo@example.com")) is None
        )
        assert session.scalar(select(func.count()).select_from(Delivery)) == 1  # ki's only
        event = session.scalar(select(Event))
        assert event is not None and event.subscriber_id is None
        entry = session.scalar(select(Suppression))
        assert entry is not None
        assert entry.email_key is None and entry.email_hash == email_hash("jo@example.com")
        assert entry.reason is SuppressionReason.FORGOTTEN
    # an import cannot bring them back
    with transaction(factory) as session:
        row = SubscriberRow(2, "jo@example.com", None, [], "confirmed")
        counts = import_rows(session, [row])
    assert counts.suppressed == 1 and counts.accepted == 0


def test_forget_keeps_a_stronger_reason_but_drops_the_address(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as session:
        suppress(session, "lu@example.com", SuppressionReason.HARD_BOUNCE, "550 lu@", utcnow())
    with transaction(factory) as session:
        assert forget(session, "lu@example.com", utcnow())
    with factory() as session:
        entry = session.scalar(select(Suppression))
        assert entry is not None
        assert (entry.email_key, entry.note, entry.reason) == (
            None,
            None,
            SuppressionReason.HARD_BOUNCE,
        )


def test_forgetting_someone_unknown_still_blocks_the_address(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as session:
        assert not forget(session, "mo@example.com", utcnow())
    assert count(factory, Suppression) == 1


def test_signing_up_again_after_forget_is_a_new_consent(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    from newsletter.tokens import Signer

    signer = Signer(b"k")
    now = utcnow()
    with transaction(factory) as session:
        forget(session, "ny@example.com", now)
    with transaction(factory) as session:
        result = consent.subscribe(session, "ny@example.com", None, [], now)
        assert result.send_confirmation
        row = session.get(Subscriber, result.subscriber_id)
        assert row is not None
        token = consent.confirm_token(signer, row)
    with transaction(factory) as session:
        consent.confirm(session, signer, token, now)
    with factory() as session:
        row = session.scalar(select(Subscriber).where(Subscriber.email_key == "ny@example.com"))
        assert row is not None and row.status is SubscriberStatus.CONFIRMED
    assert count(factory, Suppression) == 0
