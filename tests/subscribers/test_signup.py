"""Signing up through the service layer: the request commits, then its confirmation is handed
over; who asks decides what a suppression means (the one consent rule for every face)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.db import transaction
from newsletter.errors import ConfigError
from newsletter.mail.memory import MemoryTransport
from newsletter.mail.transport import Transport
from newsletter.models import Subscriber, SubscriberStatus, SuppressionReason
from newsletter.services import Channel, Context, Signup
from newsletter.services import subscribers as people
from newsletter.subscribers.consent import blocks
from newsletter.subscribers.suppression import suppress
from tests.helpers.env import NOW


def test_a_confirmation_that_cannot_be_handed_over_frees_the_request(
    settings: Settings, factory: sessionmaker[Session]
) -> None:
    """A broker that is down, a mail set-up that cannot work: the person hears it did not go
    out, and may ask again at once instead of an hour later."""

    def broken() -> Transport:
        raise ConfigError("NEWSLETTER_DKIM_PRIVATE_KEY", "no PEM block")

    first = people.sign_up(
        Context(settings, factory, transport_factory=broken), "kim@example.com", None, [],
        source="web", now=NOW,
    )  # fmt: skip
    assert first.result.outcome is Signup.NEW
    assert first.handed.error is not None and "no PEM block" in first.handed.error
    with factory() as session:
        row = session.scalars(select(Subscriber)).one()
        assert (row.status, row.confirm_sent_at) == (SubscriberStatus.PENDING, None)
    transport = MemoryTransport()
    again = people.sign_up(
        Context(settings, factory, transport_factory=lambda: transport), "kim@example.com",
        None, [], source="web", now=NOW + timedelta(minutes=1),
    )  # fmt: skip
    assert again.result.outcome is Signup.RESENT and again.handed.sent
    assert transport.recipients == ["kim@example.com"]


@pytest.mark.parametrize(
    ("reason", "person", "operator"),
    [
        (None, False, False),
        (SuppressionReason.UNSUBSCRIBED, False, True),  # only the person can come back
        (SuppressionReason.FORGOTTEN, False, True),
        (SuppressionReason.HARD_BOUNCE, True, True),  # nobody can lift these
        (SuppressionReason.COMPLAINT, True, True),
        (SuppressionReason.MANUAL, True, True),
    ],
)
def test_who_asks_decides_what_a_suppression_blocks(
    reason: SuppressionReason | None, person: bool, operator: bool
) -> None:
    assert blocks(reason, Channel.SELF) is person
    assert blocks(reason, Channel.OPERATOR) is operator
    assert blocks(reason, Channel.IMPORT) is operator


def test_the_form_and_the_operator_follow_the_same_rule(
    services: Context, factory: sessionmaker[Session], transport: MemoryTransport
) -> None:
    with transaction(factory) as session:
        suppress(session, "left@example.com", SuppressionReason.UNSUBSCRIBED, "page", NOW)
    by_operator = people.sign_up(
        services, "left@example.com", None, [], source="cli", channel=Channel.OPERATOR
    )
    assert by_operator.result.outcome is Signup.BLOCKED and transport.sent == []
    key, added = people.add_confirmed(services, "Left@Example.com", None, "")
    assert (key, added.accepted, added.suppressed) == ("left@example.com", 0, 1)
    by_person = people.sign_up(services, "left@example.com", None, [], source="web")
    assert by_person.result.outcome is Signup.NEW
    assert transport.recipients == ["left@example.com"]
