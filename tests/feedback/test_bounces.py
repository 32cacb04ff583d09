"""Bounce and complaint processing: RFC 3464 and RFC 5965 reports, matching, state changes.

The samples in ``tests/fixtures/bounces/`` were written for this project in the styles of
real MTAs and feedback loops; ``expected.json`` says what each one must come to.
"""

from __future__ import annotations

import base64
import email
import mailbox
import quopri
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.db import transaction
from newsletter.errors import InputError
from newsletter.feedback.bounce_run import process_mailbox
from newsletter.feedback.bounces import (
    BouncePolicy,
    Processed,
    match,
    process_report,
)
from newsletter.feedback.mailboxes import LocalMailbox, open_mailbox
from newsletter.feedback.reports import NotAReport, ReportKind, parse_report, report_kind
from newsletter.mail.memory import MemoryTransport
from newsletter.mail.verp import Identified
from newsletter.models import (
    BounceReport,
    Delivery,
    DeliveryState,
    Event,
    Issue,
    IssueStatus,
    Subscriber,
    SubscriberStatus,
    SuppressionReason,
)
from newsletter.services import Context
from newsletter.services import subscribers as people
from newsletter.subscribers.consent import Signup
from tests.helpers.bounces import (
    EXPECTED,
    EXPECTED_BY_ID,
    PATH,
    POLICY,
    raw_sample,
    sample,
    seed,
    standing,
)
from tests.helpers.cli import run
from tests.helpers.env import NOW
from tests.helpers.factories import issue_with, review, send_now


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_sample_parses_to_its_expected_report(name: str) -> None:
    expected = EXPECTED[name]
    if expected["kind"] == "unparsable":
        with pytest.raises(NotAReport):
            parse_report(sample(name))
        return
    report = parse_report(sample(name))
    assert report.status == expected["status"]
    assert (report.recipient or "").lower() == (expected["recipient"] or "")
    ids = match(report, POLICY)
    if expected["kind"] == "unmatched":
        assert ids is None
    else:
        assert report.kind.value == expected["kind"]
        assert ids is not None
        assert (ids.issue_id, ids.subscriber_id) == (
            expected["issue_id"],
            expected["subscriber_id"],
        )
        assert ids.signed  # the return path or the quoted X-Newsletter-Id, as sent
        unsigned = match(parse_report(raw_sample(name)), POLICY)
        assert unsigned is None or not unsigned.signed


def test_without_a_bounce_address_only_the_message_id_matches() -> None:
    no_verp = BouncePolicy("news.example.com", None, 3, timedelta(days=30))
    verp_only = parse_report(sample("03-outlook-recipient-not-found-no-original.eml"))
    assert match(verp_only, no_verp) is None
    by_id = parse_report(sample("01-postfix-user-unknown.eml"))
    assert match(by_id, no_verp) == Identified(7, 42, signed=False)
    # a Message-ID of the same shape from another domain is not ours
    other = BouncePolicy("other.example", None, 3, timedelta(days=30))
    assert match(by_id, other) is None


@pytest.mark.parametrize(
    ("status", "action", "kind"),
    [
        ("5.1.1", "failed", ReportKind.HARD),
        ("5.1.10", "failed", ReportKind.HARD),
        ("5.0.0", "failed", ReportKind.HARD),
        ("5.2.2", "failed", ReportKind.SOFT),  # mailbox full
        ("5.7.1", "failed", ReportKind.SOFT),  # a policy block says nothing of the address
        ("4.4.7", "failed", ReportKind.SOFT),
        (None, "failed", ReportKind.SOFT),
        ("4.4.1", "delayed", ReportKind.DELAYED),
    ],
)
def test_classification(status: str | None, action: str, kind: ReportKind) -> None:
    assert report_kind(status, action) is kind


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe garbage",
        b"Subject: hello\n\nJust a note.\n",
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\n\n--x\n",
        b"From: MAILER-DAEMON@example.net\nSubject: Undelivered Mail\n\nno code here\n",
    ],
)
def test_garbage_is_not_a_report(raw: bytes) -> None:
    with pytest.raises(NotAReport):
        parse_report(raw)


# -- applying reports to the database ---------------------------------------------------------
def _delivery(factory: sessionmaker[Session], sid: int) -> Delivery:
    with factory() as session:
        row = session.scalar(select(Delivery).where(Delivery.subscriber_id == sid))
        assert row is not None
        session.expunge(row)
        return row


def _maildir(folder: Path, names: list[str]) -> Path:
    box = mailbox.Maildir(folder, create=True)
    for name in names:
        box.add(sample(name))
    box.close()
    return folder


def test_processing_the_samples_updates_subscribers_and_deliveries(
    factory: sessionmaker[Session], settings: Settings, tmp_path: Path
) -> None:
    seed(factory)
    source = _maildir(tmp_path / "Bounces", sorted(EXPECTED))
    aside = tmp_path / "aside"
    run = process_mailbox(factory, LocalMailbox(source), POLICY, aside, NOW)
    assert run.counts == {
        "hard": 5,  # 01, 02, 03, 09 and the plain-text qmail bounce 13
        "soft": 2,
        "delayed": 1,
        "complaint": 2,
        "unmatched": 1,
        "unparsable": 2,
    }
    # hard bounces: delivery failed with the server's words, subscriber bounced, suppressed
    for sid in (42, 43, 44, 50, 51):
        assert standing(factory, sid) == (
            SubscriberStatus.BOUNCED,
            SuppressionReason.HARD_BOUNCE,
        )
        delivery = _delivery(factory, sid)
        assert delivery.state is DeliveryState.FAILED
        assert delivery.last_error and "bounced (hard, 5." in delivery.last_error
    # soft and delayed: still subscribed, nothing suppressed; a soft one noted on the delivery
    for sid in (45, 46, 47):
        assert standing(factory, sid) == (SubscriberStatus.CONFIRMED, None)
        assert _delivery(factory, sid).state is DeliveryState.SENT
    assert "soft, 5.2.2" in (_delivery(factory, 46).last_error or "")
    assert _delivery(factory, 47).last_error is None
    # complaints: stop at once
    for sid in (48, 49):
        assert standing(factory, sid) == (
            SubscriberStatus.COMPLAINED,
            SuppressionReason.COMPLAINT,
        )
    # the auto-reply to subscriber 53's VERP address changed nothing
    assert standing(factory, 53) == (SubscriberStatus.CONFIRMED, None)
    # unmatched and unparsable reports are kept aside for a person to read
    assert run.aside is not None
    assert sorted(p.parent for p in run.aside) == [aside] * 3
    assert all(p.read_bytes() in {sample(n) for n in EXPECTED} for p in run.aside)
    with factory() as session:
        kinds = dict(session.execute(select(Event.kind, func.count()).group_by(Event.kind)).all())
    assert kinds == {"bounce_hard": 5, "bounce_soft": 2, "bounce_delayed": 1, "complaint": 2}

    # a second run over the same mailbox changes nothing
    again = process_mailbox(factory, LocalMailbox(source), POLICY, aside, NOW)
    assert again.counts == {"duplicate": len(EXPECTED)}
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Event)) == 10
        assert session.scalar(select(func.count()).select_from(BounceReport)) == len(EXPECTED)


def test_soft_bounces_over_the_threshold_become_hard(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    seed(factory)
    soft = sample("05-gmail-mailbox-full-5.2.2.eml")  # subscriber 46, issue 7
    with transaction(factory) as session:
        for n in (8, 9):  # two earlier issues soft-bounced too
            session.add(
                Issue(
                    id=n,
                    week_key=f"2026-W{30 + n}",
                    status=IssueStatus.SENT,
                    window_start=NOW,
                    cutoff=NOW,
                )
            )
            session.flush()
            session.add(
                Delivery(
                    issue_id=n,
                    subscriber_id=46,
                    variant_mask=0,
                    state=DeliveryState.SENT,
                    message_id=f"<nl.2026-W{30 + n}.{n}.46@news.example.com>",
                )
            )

    def report_for(issue: int, copy: int) -> bytes:
        # the same bounce, for another issue (and a distinct copy, so not a duplicate)
        text = soft.replace(b"nl.2026-W48.7.46@", f"nl.2026-W{30 + issue}.{issue}.46@".encode())
        verp = PATH.for_delivery(7, 46).encode()
        text = text.replace(verp, PATH.for_delivery(issue, 46).encode())
        return text.replace(b"Subject:", f"X-Copy: {copy}\nSubject:".encode(), 1)

    with transaction(factory) as session:
        # two soft bounces for the same issue count as one
        assert process_report(session, soft, POLICY, NOW).promoted is False
        assert process_report(session, report_for(7, 2), POLICY, NOW).promoted is False
        assert process_report(session, report_for(8, 1), POLICY, NOW).promoted is False
    assert standing(factory, 46) == (SubscriberStatus.CONFIRMED, None)
    with transaction(factory) as session:
        done = process_report(session, report_for(9, 1), POLICY, NOW)
    assert done.promoted is True
    assert standing(factory, 46) == (SubscriberStatus.BOUNCED, SuppressionReason.HARD_BOUNCE)


def test_soft_bounces_outside_the_window_do_not_add_up(factory: sessionmaker[Session]) -> None:
    seed(factory)
    narrow = BouncePolicy("news.example.com", None, 1, timedelta(days=1))
    old = sample("05-gmail-mailbox-full-5.2.2.eml")  # dated in the past: outside one day
    with transaction(factory) as session:
        done = process_report(session, old, narrow, NOW + timedelta(days=400))
    assert done.outcome == "soft"
    assert done.promoted is False


def test_a_complaint_upgrades_an_earlier_unsubscribe(factory: sessionmaker[Session]) -> None:
    """An unsubscribe can be lifted by a new confirmation; a complaint must not be."""
    seed(factory)
    from newsletter.subscribers.suppression import suppress

    with transaction(factory) as session:
        row = session.get(Subscriber, 48)
        assert row is not None
        row.status = SubscriberStatus.UNSUBSCRIBED
        suppress(session, row.email_key, SuppressionReason.UNSUBSCRIBED, None, NOW)
    with transaction(factory) as session:
        process_report(session, sample("07-yahoo-arf-abuse-full-original.eml"), POLICY, NOW)
    assert standing(factory, 48) == (SubscriberStatus.COMPLAINED, SuppressionReason.COMPLAINT)


def test_an_mbox_source_works_like_a_maildir(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    seed(factory)
    path = tmp_path / "bounces.mbox"
    box = mailbox.mbox(path, create=True)
    for name in ("01-postfix-user-unknown.eml", "11-garbage-truncated-mime.eml"):
        box.add(sample(name))
    box.close()
    source = open_mailbox(str(path), None)
    try:
        run = process_mailbox(factory, source, POLICY, tmp_path / "a", NOW)
    finally:
        source.close()
    assert run.counts == {"hard": 1, "unparsable": 1}


def test_bad_sources_are_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such maildir folder or mbox file"):
        open_mailbox(str(tmp_path / "missing"), None)
    (tmp_path / "plain").mkdir()
    with pytest.raises(InputError, match="not a maildir"):
        open_mailbox(str(tmp_path / "plain"), None)
    (tmp_path / "notes.txt").write_text("hello\n")
    with pytest.raises(InputError, match="not an mbox file"):
        open_mailbox(str(tmp_path / "notes.txt"), None)
    with pytest.raises(InputError, match="NEWSLETTER_BOUNCE_IMAP_URL is not set"):
        open_mailbox("imap", None)


def test_a_verp_return_path_round_trip(factory: sessionmaker[Session], settings: Settings) -> None:
    """A real send with a bounce address; the remote MTA's bounce quotes nothing of the
    message, only the return path it was sent from; it still finds the delivery."""
    verp_settings = settings.with_overrides(bounce_address="bounces@reviews.example.com")
    issue_id = issue_with(factory, verp_settings, [review("a", "Film")], ["ann@example.com"])
    transport = MemoryTransport()
    send_now(factory, verp_settings, issue_id, transport)
    envelope, _message = transport.sent[0]
    with factory() as session:
        ann = session.scalar(select(Subscriber).where(Subscriber.email_key == "ann@example.com"))
        assert ann is not None
        ann_id = ann.id
    assert re.fullmatch(
        rf"bounces\+{issue_id}-{ann_id}-[0-9a-f]{{10}}@reviews\.example\.com", envelope.mail_from
    )
    dsn = (
        f"From: MAILER-DAEMON@mx.example.com\nTo: {envelope.mail_from}\n"
        "Subject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        "--b\nContent-Type: text/plain\n\nThe mail could not be delivered.\n"
        "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.com\n\n"
        "Final-Recipient: rfc822; ann@example.com\nAction: failed\nStatus: 5.1.1\n"
        "Diagnostic-Code: smtp; 550 5.1.1 no such user\n--b--\n"
    ).encode()
    with transaction(factory) as session:
        done = process_report(session, dsn, BouncePolicy.from_settings(verp_settings), NOW)
    assert (done.outcome, done.issue_id, done.subscriber_id) == ("hard", issue_id, ann_id)
    assert standing(factory, ann_id) == (
        SubscriberStatus.BOUNCED,
        SuppressionReason.HARD_BOUNCE,
    )


def test_the_command_line(
    settings: Settings, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    seed(factory)
    source = _maildir(
        tmp_path / "Bounces", ["01-postfix-user-unknown.eml", "11-garbage-truncated-mime.eml"]
    )
    env = {
        "NEWSLETTER_DATABASE_URL": settings.database_url,
        "NEWSLETTER_DATA_DIR": str(settings.data_dir),
        "NEWSLETTER_FROM": "Review Weekly <digest@news.example.com>",
        "NEWSLETTER_BOUNCE_ADDRESS": "bounces@news.example.com",
        "NEWSLETTER_SECRET_KEY": "test-secret",  # the key the samples are signed with
    }
    done = run(["bounces", "process", str(source)], tmp_path, **env)
    assert done.returncode == 0, done.stderr
    summary = (
        "1 hard, 0 soft, 0 delayed, 0 complaint, 0 unsubscribed, 0 unverified, 0 unmatched, "
        "1 unparsable"
    )
    assert summary in done.stdout
    aside = settings.data_dir / "bounces" / "aside"
    assert f"1 not applied, kept in {aside}" in done.stdout
    assert len(list(aside.glob("*.eml"))) == 1
    again = run(["bounces", "process", str(source)], tmp_path, **env)
    assert "2 duplicate" in again.stdout
    missing = run(["bounces", "process", str(tmp_path / "nope")], tmp_path, **env)
    assert missing.returncode == 2
    assert "nope: no such maildir folder or mbox file" in missing.stderr


def _dsn_for(
    rcpt: str, to: str, message_id: str | None, status: str = "5.1.1", tag: str | None = None
) -> bytes:
    quoted = "".join(
        [
            f"Message-ID: {message_id}\n" if message_id else "",
            f"X-Newsletter-Id: {tag}\n" if tag else "",
        ]
    )
    original = f"--b\nContent-Type: text/rfc822-headers\n\n{quoted}To: {rcpt}\n" if quoted else ""
    return (
        f"From: MAILER-DAEMON@mx.example.com\nTo: {to}\n"
        "Subject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        "--b\nContent-Type: text/plain\n\nThe mail could not be delivered.\n"
        "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.com\n\n"
        f"Final-Recipient: rfc822; {rcpt}\nAction: failed\nStatus: {status}\n"
        f"{original}--b--\n"
    ).encode()


@pytest.mark.parametrize("by", ["verp", "tag", "message-id without verp"])
def test_a_bounced_confirmation_stops_that_sign_up(
    by: str, factory: sessionmaker[Session], settings: Settings
) -> None:
    """A typo at sign-up: the confirmation bounces, the address is suppressed, and signing
    it up again sends nothing more. The bounce is tied to the sign-up by the signed VERP
    return path, by the signed X-Newsletter-Id it quotes, or (without a bounce address) by
    the Message-ID, the subscriber's address and delivery to the From address."""
    if by != "message-id without verp":
        settings = settings.with_overrides(bounce_address="bounces@reviews.example.com")
    transport = MemoryTransport()
    services = Context(settings, factory, transport_factory=lambda: transport)
    done = people.sign_up(services, "kim@exmaple.com", "Kim", ["Film"], source="web", now=NOW)
    assert done.handed.sent
    envelope, raw_message = transport.sent[0]
    sid = done.result.subscriber_id
    if by == "message-id without verp":
        assert envelope.mail_from == "digest@reviews.example.com"
    else:
        assert re.fullmatch(
            rf"bounces\+c-{sid}-[0-9a-f]{{10}}@reviews\.example\.com", envelope.mail_from
        )
    assert re.fullmatch(rf"<confirm\.{sid}\.[0-9a-f]+@reviews\.example\.com>", envelope.message_id)
    tag = email.message_from_bytes(raw_message)["X-Newsletter-Id"]
    assert re.fullmatch(rf"c-{sid}-[0-9a-f]{{10}}", tag)
    if by == "verp":
        dsn = _dsn_for("kim@exmaple.com", envelope.mail_from, None)
    elif by == "tag":  # delivered to a plain address: only the quoted tag names the sign-up
        dsn = _dsn_for("kim@exmaple.com", "bounces@reviews.example.com", None, tag=tag)
    else:
        dsn = _dsn_for("kim@exmaple.com", "digest@reviews.example.com", envelope.message_id)
    with transaction(factory) as session:
        result = process_report(session, dsn, BouncePolicy.from_settings(settings), NOW)
    assert (result.outcome, result.issue_id, result.subscriber_id) == ("hard", None, sid)
    assert sid is not None
    assert standing(factory, sid) == (SubscriberStatus.BOUNCED, SuppressionReason.HARD_BOUNCE)
    later = NOW + timedelta(days=1)
    again = people.sign_up(services, "kim@exmaple.com", "Kim", ["Film"], source="web", now=later)
    assert again.result.outcome is Signup.BLOCKED and not again.handed.sent
    assert len(transport.sent) == 1


# -- what a hostile or odd mailbox must not do ----------------------------------------------------
def test_forged_bounces_change_nothing(factory: sessionmaker[Session], settings: Settings) -> None:
    """Ids are sequential, so anyone can mail "bounces" for ids 1, 2, 3... to the bounce
    address. Without our signature on the return path a report must name the subscriber's
    own address; a made-up signature is refused outright."""
    seed(factory)
    forged = [
        # no recipient at all, an unsigned VERP address and a guessed Message-ID
        (
            b"From: mailer-daemon@attacker.example\nTo: bounces+7-42@news.example.com\n"
            b"Subject: Undelivered\n\n550 5.1.1 whatever <nl.2026-W48.7.42@news.example.com>\n",
            "unverified",
        ),
        # a bounce for a guessed Message-ID, recipient not the subscriber's
        (
            _dsn_for(
                "someone@else.example",
                "bounces@news.example.com",
                "<nl.2026-W48.7.43@news.example.com>",
            ),
            "unverified",
        ),
        # a signature that is not ours
        (_dsn_for("x@y.example", "bounces+7-44-0123456789@news.example.com", None), "unmatched"),
        # a confirmation bounce for someone who confirmed long ago
        (_dsn_for(str(EXPECTED_BY_ID[45]), PATH.for_confirmation(45), None), "unmatched"),
        # ids too large to be ours (an integer overflow in the database otherwise)
        (
            _dsn_for("x@y.example", "bounces+1-99999999999999999999@news.example.com", None),
            "unmatched",
        ),
    ]
    for raw, outcome in forged:
        with transaction(factory) as session:
            assert process_report(session, raw, POLICY, NOW).outcome == outcome
    for sid in (42, 43, 44, 45):
        assert standing(factory, sid) == (SubscriberStatus.CONFIRMED, None)


def test_a_signed_return_path_is_trusted_even_when_the_mail_was_forwarded(
    factory: sessionmaker[Session],
) -> None:
    seed(factory)
    forwarded = _dsn_for("alice@new-provider.example", PATH.for_delivery(7, 42), None)
    with transaction(factory) as session:
        assert process_report(session, forwarded, POLICY, NOW).outcome == "hard"
    assert standing(factory, 42) == (SubscriberStatus.BOUNCED, SuppressionReason.HARD_BOUNCE)


@pytest.mark.parametrize(
    ("status", "diagnostic", "kind", "code"),
    [
        (
            "5.0.0",
            "smtp; 552-5.2.2 The email account that you tried to reach is over quota",
            "soft",
            "5.2.2",
        ),
        ("5.0.0", "smtp; 554 Message rejected: spam content", "soft", "5.0.0"),
        ("5.0.0", "smtp; 550 Requested action not taken: user unknown", "hard", "5.0.0"),
        ("", "smtp; 550 5.1.1 <a@example.org>: Recipient address rejected", "hard", "5.1.1"),
        ("4.0.0", "smtp; 452 4.2.2 Mailbox full", "soft", "4.2.2"),
    ],
)
def test_the_most_specific_status_wins(status: str, diagnostic: str, kind: str, code: str) -> None:
    raw = (
        "From: MAILER-DAEMON@mx.example.com\nTo: bounces@news.example.com\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.com\n\n"
        f"Final-Recipient: rfc822; a@example.org\nAction: failed\nStatus: {status}\n"
        f"Diagnostic-Code: {diagnostic}\n--b--\n"
    ).encode()
    report = parse_report(raw)
    assert (report.kind.value, report.status) == (kind, code)


def test_encoded_report_parts_are_read() -> None:
    fields = (
        "Reporting-MTA: dns; mx.example.com\n\nFinal-Recipient: rfc822; a@example.org\n"
        "Action: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 unknown user=\n"
    )
    for encoding, body in (
        ("base64", base64.encodebytes(fields.encode()).decode()),
        ("quoted-printable", quopri.encodestring(fields.encode()).decode()),
    ):
        raw = (
            "From: MAILER-DAEMON@mx.example.com\nMIME-Version: 1.0\n"
            'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
            f"--b\nContent-Type: message/delivery-status\nContent-Transfer-Encoding: {encoding}\n\n"
            f"{body}\n--b--\n"
        ).encode()
        report = parse_report(raw)
        assert (report.kind, report.status, report.recipient) == (
            ReportKind.HARD,
            "5.1.1",
            "a@example.org",
        ), encoding
        assert report.diagnostic == "550 5.1.1 unknown user="
    arf = base64.encodebytes(b"Feedback-Type: abuse\nUser-Agent: x/1\nVersion: 1\n").decode()
    raw = (
        "From: fbl@isp.example\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="b"\n\n'
        "--b\nContent-Type: message/feedback-report\nContent-Transfer-Encoding: base64\n\n"
        f"{arf}\n--b--\n"
    ).encode()
    assert parse_report(raw).kind is ReportKind.COMPLAINT


def test_an_ip_address_is_not_a_status_code() -> None:
    raw = (
        b"From: MAILER-DAEMON@mx.example.com\nSubject: failure notice\n\n"
        b"Hi. This is the qmail-send program.\n<kim@example.org>:\n"
        b"10.4.20.1 does not like recipient.\nRemote host said: 550 5.1.1 no such user\n"
    )
    report = parse_report(raw)
    assert (report.kind, report.status, report.recipient) == (
        ReportKind.HARD,
        "5.1.1",
        "kim@example.org",
    )


def test_one_bad_message_does_not_block_the_mailbox(
    factory: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A report whose application fails in a way nobody foresaw is recorded as unparsable
    with the reason and kept aside; the messages after it are still applied."""
    seed(factory)
    real = process_report
    poison = sample("04-sendmail-expired-4.4.7.eml")

    def flaky(session: Session, raw: bytes, policy: BouncePolicy, now: datetime) -> Processed:
        if raw == poison:
            raise ValueError("an unforeseen shape")
        return real(session, raw, policy, now)

    monkeypatch.setattr("newsletter.feedback.bounce_run.process_report", flaky)
    source = _maildir(
        tmp_path / "Bounces", ["04-sendmail-expired-4.4.7.eml", "01-postfix-user-unknown.eml"]
    )
    run = process_mailbox(factory, LocalMailbox(source), POLICY, tmp_path / "aside", NOW)
    assert run.counts == {"unparsable": 1, "hard": 1}
    with factory() as session:
        reasons = list(
            session.scalars(select(BounceReport.reason).where(BounceReport.outcome == "unparsable"))
        )
    assert reasons == ["could not apply it: ValueError: an unforeseen shape"]


@pytest.mark.parametrize("kind", ["maildir", "mbox"])
def test_delete_empties_a_local_mailbox(
    kind: str, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    seed(factory)
    names = ["01-postfix-user-unknown.eml", "12-out-of-office-auto-reply.eml"]
    if kind == "maildir":
        path = _maildir(tmp_path / "Bounces", names)
    else:
        path = tmp_path / "bounces.mbox"
        created = mailbox.mbox(path, create=True)
        for name in names:
            created.add(sample(name))
        created.close()
    box = open_mailbox(str(path), None, delete=True)
    try:
        run = process_mailbox(factory, box, POLICY, tmp_path / "aside", NOW)
    finally:
        box.close()
    assert run.counts == {"hard": 1, "unparsable": 1}
    reopened = mailbox.Maildir(path) if kind == "maildir" else mailbox.mbox(path)
    assert len(reopened) == 0
    reopened.close()


def test_a_source_that_looks_like_a_url_is_named_without_its_password() -> None:
    with pytest.raises(InputError, match=r"imap5://bounce:\*\*\*@mail.example.com/") as caught:
        open_mailbox("imap5://bounce:pa55word@mail.example.com/", None)
    assert "pa55word" not in str(caught.value)
