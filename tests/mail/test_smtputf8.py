"""Internationalized addresses on the wire, against aiosmtpd with and without SMTPUTF8
(RFC 6531): UTF-8 where the server offers it, A-label domains where it does not, and a clear
refusal of this one recipient (never the batch) for a UTF-8 local part it cannot carry."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings, SmtpConfig
from newsletter.mail.replies import Verdict
from newsletter.mail.smtp import SmtpTransport, ascii_address
from newsletter.mail.transport import Envelope, PermanentFailure
from newsletter.models import Delivery, DeliveryState, Subscriber, SubscriberStatus, Suppression
from tests.helpers.factories import issue_with, review, send_all_over_smtp
from tests.helpers.smtp import Recorder, serving

MESSAGE = b"From: a@example.com\r\nTo: x@example.com\r\nSubject: hi\r\n\r\nbody\r\n"


def test_ascii_address_writes_the_domain_as_a_labels() -> None:
    assert ascii_address("jo@bücher.de") == "jo@xn--bcher-kva.de"
    assert ascii_address("jo@example.com") == "jo@example.com"
    assert ascii_address("zoë@bücher.de") == "zoë@bücher.de"  # no ASCII form exists


def test_an_idn_domain_goes_as_a_labels_to_a_server_without_smtputf8() -> None:
    handler = Recorder()
    with serving(handler, smtputf8=False) as port:
        transport = SmtpTransport(SmtpConfig("127.0.0.1", port, timeout=5))
        try:
            transport.send(Envelope("bounces@example.com", "jo@bücher.de", "<m@x>"), MESSAGE)
        finally:
            transport.close()
    assert handler.recipients == ["jo@xn--bcher-kva.de"]


def test_a_utf8_local_part_goes_with_smtputf8_or_is_refused_for_that_recipient() -> None:
    offered = Recorder()
    with serving(offered) as port:
        transport = SmtpTransport(SmtpConfig("127.0.0.1", port, timeout=5))
        try:
            transport.send(Envelope("bounces@example.com", "zoë@bücher.de", "<m@x>"), MESSAGE)
        finally:
            transport.close()
    assert offered.recipients == ["zoë@bücher.de"]

    lacking = Recorder()
    with serving(lacking, smtputf8=False) as port:
        transport = SmtpTransport(SmtpConfig("127.0.0.1", port, timeout=5))
        try:
            try:
                transport.send(Envelope("b@example.com", "zoë@example.com", "<m@x>"), MESSAGE)
            except PermanentFailure as exc:
                refused = exc
            else:
                raise AssertionError("a UTF-8 local part went to a server without SMTPUTF8")
            # the connection is still good for the next recipient
            transport.send(Envelope("b@example.com", "ann@example.com", "<m2@x>"), MESSAGE)
        finally:
            transport.close()
    assert "553 5.6.7" in refused.reason and "SMTPUTF8" in refused.reason
    assert refused.verdict is Verdict.CONTENT and not refused.hard_bounce
    assert lacking.recipients == ["ann@example.com"] and lacking.sessions == 1


def test_a_batch_sends_past_an_address_the_server_cannot_carry(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    """The row of the UTF-8 address fails with the reason; the others are sent; the address is
    neither suppressed nor marked bounced (it works, just not through this server)."""
    handler = Recorder()
    emails = ["ann@example.com", "zoë@example.com", "jo@bücher.de", "kim@example.com"]
    issue_id = issue_with(factory, settings, [review("a", "Film")], emails)
    with serving(handler, smtputf8=False) as port:
        send_all_over_smtp(factory, settings, issue_id, port)
    assert sorted(handler.recipients) == [
        "ann@example.com",
        "jo@xn--bcher-kva.de",
        "kim@example.com",
    ]
    # the IDN recipient's headers were ASCII: its To names the A-label domain
    idn = next(m for _, rcpts, m in handler.messages if rcpts == ["jo@xn--bcher-kva.de"])
    assert idn.isascii() and b"To: jo@xn--bcher-kva.de" in idn
    with factory() as session:
        rows = session.execute(
            select(Subscriber.email, Subscriber.status, Delivery.state, Delivery.last_error)
            .join(Delivery, Delivery.subscriber_id == Subscriber.id)
            .where(Delivery.issue_id == issue_id)
        ).all()
        states = {email: (status, state, error) for email, status, state, error in rows}
        assert session.scalars(select(Suppression)).all() == []
    status, state, error = states["zoë@example.com"]
    assert (status, state) == (SubscriberStatus.CONFIRMED, DeliveryState.FAILED)
    assert error is not None and "553 5.6.7" in error and "SMTPUTF8" in error
    assert {e: s for e, (_, s, _) in states.items() if e != "zoë@example.com"} == {
        "ann@example.com": DeliveryState.SENT,
        "jo@bücher.de": DeliveryState.SENT,
        "kim@example.com": DeliveryState.SENT,
    }
