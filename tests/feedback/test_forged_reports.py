"""Forged bounce and complaint reports (issue 13, item 1).

Anyone can mail the bounce address, our Message-IDs are sequential and a subscriber's address
is no secret. Only our signature (a signed VERP return path, or a signed X-Newsletter-Id quoted
from the original) may change a subscriber when NEWSLETTER_BOUNCE_ADDRESS is set; without it,
an unsigned report must at least name the subscriber and reach the From address.
"""

from __future__ import annotations

import email
import mailbox
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.db import transaction
from newsletter.feedback.bounces import BouncePolicy, process_report
from newsletter.feedback.mailboxes import LocalMailbox
from newsletter.mail.memory import MemoryTransport
from newsletter.models import BounceReport, Subscriber, SubscriberStatus
from tests.helpers.cli import run
from tests.helpers.env import NOW
from tests.helpers.factories import issue_with, review, send_now

TARGET = "target@example.org"


def _dsn(to: str, message_id: str, rcpt: str = TARGET, n: int = 0) -> bytes:
    return (
        f"From: MAILER-DAEMON@mx{n}.attacker.example\nTo: {to}\nDelivered-To: {to}\n"
        f"Subject: Undelivered Mail Returned to Sender ({n})\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        "--b\nContent-Type: text/plain\n\nThe mail could not be delivered.\n"
        "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.com\n\n"
        f"Final-Recipient: rfc822; {rcpt}\nAction: failed\nStatus: 5.1.1\n"
        f"--b\nContent-Type: text/rfc822-headers\n\nMessage-ID: {message_id}\nTo: {rcpt}\n"
        "--b--\n"
    ).encode()


def _arf(to: str, original: bytes, rcpt: str = TARGET, n: int = 0) -> bytes:
    """An RFC 5965 abuse report quoting ``original`` whole, as Yahoo's and Microsoft's loops
    send them: to the loop's registered address, not to the return path."""
    return (
        (
            f"From: fbl@loop{n}.example\nTo: {to}\nSubject: Abuse report ({n})\nMIME-Version: 1.0\n"
            'Content-Type: multipart/report; report-type=feedback-report; boundary="f"\n\n'
            "--f\nContent-Type: text/plain\n\nThis is an abuse report.\n"
            "--f\nContent-Type: message/feedback-report\n\n"
            f"Feedback-Type: abuse\nUser-Agent: loop/1.0\nVersion: 1\nOriginal-Rcpt-To: {rcpt}\n"
            "--f\nContent-Type: message/rfc822\n\n"
        ).encode()
        + original.replace(b"\r\n", b"\n")
        + b"\n--f--\n"
    )


def _sent_issue(factory: sessionmaker[Session], settings: Settings) -> tuple[int, int, bytes, str]:
    """An issue really sent to TARGET: (issue id, subscriber id, the message, its id)."""
    issue_id = issue_with(factory, settings, [review("a", "Film")], [TARGET])
    transport = MemoryTransport()
    send_now(factory, settings, issue_id, transport)
    envelope, message = transport.sent[0]
    with factory() as session:
        sid = session.scalar(select(Subscriber.id).where(Subscriber.email_key == TARGET))
    assert sid is not None
    return issue_id, sid, message, envelope.message_id


def _status(factory: sessionmaker[Session], sid: int) -> SubscriberStatus:
    with factory() as session:
        subscriber = session.get(Subscriber, sid)
        assert subscriber is not None
        return subscriber.status


def test_sixty_forged_reports_by_message_id_leave_the_target_alone(
    settings: Settings, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    """The attack as found: 60 DSNs and ARF reports, each quoting the target's real
    Message-ID and naming the target's address, mailed to the bounce address. With
    NEWSLETTER_BOUNCE_ADDRESS set none is applied; `bounces process` counts them unverified
    and keeps them aside."""
    settings = settings.with_overrides(
        bounce_address="bounces@reviews.example.com", secret_key="k" * 32
    )
    _issue_id, sid, message, message_id = _sent_issue(factory, settings)
    box = mailbox.Maildir(tmp_path / "Bounces", create=True)
    stripped = b"\n".join(  # the forger has the message, but not our tag
        line for line in message.split(b"\r\n") if not line.startswith(b"X-Newsletter-Id")
    )
    for n in range(30):
        box.add(_dsn("bounces@reviews.example.com", message_id, n=n))
        box.add(_arf("bounces@reviews.example.com", stripped, n=n))
    box.close()
    env = settings.as_environ()
    done = run(["bounces", "process", str(tmp_path / "Bounces")], tmp_path, **env)
    assert done.returncode == 0, done.stderr
    assert "0 hard, 0 soft, 0 delayed, 0 complaint, 0 unsubscribed, 60 unverified" in done.stdout
    assert "60 not applied, kept in" in done.stdout
    assert _status(factory, sid) is SubscriberStatus.CONFIRMED
    with factory() as session:
        reasons = set(session.scalars(select(BounceReport.reason)))
    assert len(reasons) == 1
    assert "only a signed return path or X-Newsletter-Id" in str(reasons.pop())


def test_a_complaint_quoting_our_signed_tag_is_applied(
    settings: Settings, factory: sessionmaker[Session]
) -> None:
    """A genuine feedback-loop report: sent to the loop's own address, with the recipient
    blanked in what it quotes (Microsoft does), found by the signed X-Newsletter-Id."""
    settings = settings.with_overrides(bounce_address="bounces@reviews.example.com")
    issue_id, sid, message, _id = _sent_issue(factory, settings)
    tag = email.message_from_bytes(message)["X-Newsletter-Id"]
    assert tag is not None and tag.startswith(f"{issue_id}-{sid}-")
    redacted = message.replace(TARGET.encode(), b"redacted@example.org")
    report = _arf("fbl@reviews.example.com", redacted, rcpt="redacted@example.org")
    with transaction(factory) as session:
        done = process_report(session, report, BouncePolicy.from_settings(settings), NOW)
    assert (done.outcome, done.issue_id, done.subscriber_id) == ("complaint", issue_id, sid)
    assert _status(factory, sid) is SubscriberStatus.COMPLAINED


def test_an_altered_tag_is_not_ours(settings: Settings, factory: sessionmaker[Session]) -> None:
    """The forger received an issue too, and changes the subscriber id in their own tag."""
    settings = settings.with_overrides(bounce_address="bounces@reviews.example.com")
    issue_id, sid, message, _id = _sent_issue(factory, settings)
    tag = email.message_from_bytes(message)["X-Newsletter-Id"]
    assert tag is not None
    forged_tag = f"{issue_id}-{sid + 1}-{tag.rsplit('-', 1)[1]}"
    forged = message.replace(tag.encode(), forged_tag.encode())
    with transaction(factory) as session:
        done = process_report(
            session, _arf("fbl@x.example", forged), BouncePolicy.from_settings(settings), NOW
        )
    assert done.outcome == "unverified"  # its Message-ID is ours, nothing else is
    assert _status(factory, sid) is SubscriberStatus.CONFIRMED


def test_without_a_bounce_address_an_unsigned_report_must_reach_the_from_address(
    settings: Settings, factory: sessionmaker[Session]
) -> None:
    """The weaker mode: the From address is the return path. A report matched by our
    Message-ID is applied only when it names the subscriber's address and was delivered to
    the From address (a bounce goes to the envelope sender, RFC 3464 2.2)."""
    _issue_id, sid, _message, message_id = _sent_issue(factory, settings)
    policy = BouncePolicy.from_settings(settings)
    assert policy.return_path is None and policy.sender == "digest@reviews.example.com"
    elsewhere = _dsn("someone@reviews.example.com", message_id)
    with transaction(factory) as session:
        done = process_report(session, elsewhere, policy, NOW)
    assert done.outcome == "unmatched"
    assert "not delivered to our return path" in str(done.reason)
    assert _status(factory, sid) is SubscriberStatus.CONFIRMED
    with transaction(factory) as session:
        done = process_report(session, _dsn("digest@reviews.example.com", message_id), policy, NOW)
    assert done.outcome == "hard"
    assert _status(factory, sid) is SubscriberStatus.BOUNCED


def test_a_huge_report_is_read_only_up_to_the_limit(
    settings: Settings, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    """A 6 MB message in the bounce mailbox: the mailbox hands over at most limit + 1 bytes
    (so memory stays bounded however big it is), and it is recorded as too large."""
    settings = settings.with_overrides(bounce_max_bytes=1024 * 1024)
    big = _dsn("digest@reviews.example.com", "<x@y>") + b"A" * (6 * 1024 * 1024)
    for kind in ("maildir", "mbox"):
        if kind == "maildir":
            path = tmp_path / "Maildir"
            box: mailbox.Mailbox[mailbox.Message] = mailbox.Maildir(path, create=True)
        else:
            path = tmp_path / "mbox"
            box = mailbox.mbox(path, create=True)
        box.add(big)
        box.close()
        local = LocalMailbox(path, limit=settings.bounce_max_bytes)
        try:
            read = list(local)
        finally:
            local.close()
        assert [len(raw) for _key, raw in read] == [1024 * 1024 + 1]
    done = run(["bounces", "process", str(tmp_path / "Maildir")], tmp_path, **settings.as_environ())
    assert done.returncode == 0, done.stderr
    assert "1 unparsable" in done.stdout
    with factory() as session:
        reason = session.scalar(select(BounceReport.reason))
    assert reason is not None and "larger than 1048576 bytes" in reason
