"""The review window end to end, on a fake clock: the minute tick builds the draft
NEWSLETTER_REVIEW_HOURS before the slot and mails the staff once; a hold stops the send; an
approval lets it go at the slot; nobody gets it twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import message_from_bytes

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.db import transaction
from newsletter.errors import WorkError
from newsletter.ingest.store import store_reviews
from newsletter.jobs.tick import tick
from newsletter.jobs.weekly import run_weekly
from newsletter.mail.memory import MemoryTransport
from newsletter.models import Delivery, Issue, IssueStatus
from newsletter.services import Context, Edits, issues, users
from tests.helpers.factories import inline_dispatcher, review, subscriber

SLOT = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)  # Friday 09:00 in New York (the default)
BUILD = SLOT - timedelta(hours=24)  # NEWSLETTER_REVIEW_HOURS=24 (the default)
READERS = ["r0@example.com", "r1@example.com", "r2@example.com"]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_overrides(review_hours=24)


@pytest.fixture
def week(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        reviews = [review("a", "Film", days_ago=2), review("b", "TV", days_ago=3)]
        store_reviews(session, reviews, now=BUILD - timedelta(hours=1))
        for email in READERS:
            subscriber(session, email)


@pytest.fixture
def staff() -> MemoryTransport:
    return MemoryTransport()


@pytest.fixture
def ctx(
    factory: sessionmaker[Session], settings: Settings, week: None, staff: MemoryTransport
) -> Context:
    context = Context(settings, factory, transport_factory=lambda: staff, clock=Clock(BUILD))
    users.add_user(context, "ed@reviews.example.com", "editor", "a long enough password")
    users.add_user(context, "op@reviews.example.com", "operator", None)
    return context


def _issue(factory: sessionmaker[Session]) -> Issue:
    with factory() as session:
        issue = session.scalars(select(Issue)).one()
        session.expunge(issue)
        return issue


def _deliveries(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(Delivery)) or 0


def test_the_draft_is_built_early_and_the_staff_are_mailed_once(
    ctx: Context, factory: sessionmaker[Session], settings: Settings, staff: MemoryTransport
) -> None:
    dispatcher, readers = inline_dispatcher(factory, settings)
    before = tick(factory, settings, dispatcher, BUILD - timedelta(minutes=1), ctx.transport)
    assert before.weekly is None and _issue_count(factory) == 0

    built = tick(factory, settings, dispatcher, BUILD, ctx.transport)
    assert built.weekly is not None and built.weekly.ran, built.weekly
    issue = _issue(factory)
    assert issue.status is IssueStatus.SCHEDULED
    assert issue.send_at == SLOT and issue.planned_at == SLOT
    assert "scheduled for 2026-11-27 09:00 EST (-05:00); 2 editor(s) told" in built.weekly.outcome
    assert sorted(staff.recipients) == ["ed@reviews.example.com", "op@reviews.example.com"]
    mail = message_from_bytes(staff.sent[0][1])
    assert str(mail["Subject"]).startswith("[Reviews Weekly] Ready for review: ")
    text = staff.sent[0][1].decode()
    assert f"https://news.example.org/admin/issues/{issue.id}" in text
    assert "2026-11-27 09:00 EST (-05:00)" in text

    # Later ticks, and an operator's re-run of the week, mail nobody again.
    tick(factory, settings, dispatcher, BUILD + timedelta(minutes=1), ctx.transport)
    run_weekly(factory, settings, dispatcher, BUILD + timedelta(hours=1), retry=True,
               transport=ctx.transport)  # fmt: skip
    assert len(staff.sent) == 2 and readers.sent == []


def test_a_hold_stops_the_send_and_an_approval_lets_it_go_at_the_slot(
    ctx: Context, factory: sessionmaker[Session], settings: Settings
) -> None:
    dispatcher, readers = inline_dispatcher(factory, settings)
    tick(factory, settings, dispatcher, BUILD, ctx.transport)
    issue_id = _issue(factory).id

    assert isinstance(ctx.clock, Clock)
    ctx.clock.now = BUILD + timedelta(hours=2)
    issues.hold(ctx, issue_id, "ed@reviews.example.com")
    held = _issue(factory)
    assert (held.status, held.send_at, held.held_by) == (
        IssueStatus.DRAFT,
        None,
        "ed@reviews.example.com",
    )
    # A re-run of the week leaves the held draft alone; the slot passes without a send.
    rerun = run_weekly(factory, settings, dispatcher, BUILD + timedelta(hours=3), retry=True)
    assert rerun.outcome.startswith(f"issue {issue_id} held by ed@reviews.example.com")
    for minute in range(3):
        tick(factory, settings, dispatcher, SLOT + timedelta(minutes=minute), ctx.transport)
    assert _deliveries(factory) == 0 and readers.sent == []
    assert _issue(factory).status is IssueStatus.DRAFT

    # The editor edits the held draft, then approves it before a later slot: it goes then.
    ctx.clock.now = SLOT - timedelta(hours=1)
    with transaction(factory) as session:
        session.get_one(Issue, issue_id).planned_at = SLOT  # as it was
    issues.edit(ctx, issue_id, Edits(intro="Fixed the typo."))
    assert issues.approve(ctx, issue_id, "ed@reviews.example.com") is True
    approved = _issue(factory)
    assert (approved.status, approved.send_at, approved.approved_by, approved.held_by) == (
        IssueStatus.SCHEDULED,
        SLOT,
        "ed@reviews.example.com",
        None,
    )
    tick(factory, settings, dispatcher, SLOT - timedelta(minutes=1), ctx.transport)
    assert readers.sent == []  # not before its time
    tick(factory, settings, dispatcher, SLOT, ctx.transport)
    tick(factory, settings, dispatcher, SLOT + timedelta(minutes=1), ctx.transport)
    run_weekly(factory, settings, dispatcher, SLOT + timedelta(minutes=2), retry=True)
    assert sorted(readers.recipients) == READERS  # each once
    assert _issue(factory).status is IssueStatus.SENT
    assert b"Fixed the typo." in readers.sent[0][1]


def test_approving_early_keeps_the_slot_and_records_who(
    ctx: Context, factory: sessionmaker[Session], settings: Settings
) -> None:
    dispatcher, readers = inline_dispatcher(factory, settings)
    tick(factory, settings, dispatcher, BUILD, ctx.transport)
    issue_id = _issue(factory).id
    assert issues.approve(ctx, issue_id, "op@reviews.example.com") is False  # already scheduled
    row = issues.list_issues(ctx)[0]
    assert (row.status, row.send_at, row.approved_by) == (
        "scheduled",
        SLOT,
        "op@reviews.example.com",
    )
    tick(factory, settings, dispatcher, SLOT, ctx.transport)
    assert sorted(readers.recipients) == READERS


def test_holding_or_approving_a_sent_issue_is_refused(
    ctx: Context, factory: sessionmaker[Session], settings: Settings
) -> None:
    dispatcher, _ = inline_dispatcher(factory, settings)
    tick(factory, settings, dispatcher, BUILD, ctx.transport)
    tick(factory, settings, dispatcher, SLOT, ctx.transport)
    issue_id = _issue(factory).id
    with pytest.raises(WorkError, match="is sent: only a draft or a scheduled issue can be held"):
        issues.hold(ctx, issue_id, "ed@reviews.example.com")
    with pytest.raises(WorkError, match="can be approved"):
        issues.approve(ctx, issue_id, "ed@reviews.example.com")


def test_with_no_window_the_slot_builds_and_sends_together(
    factory: sessionmaker[Session], settings: Settings, week: None, staff: MemoryTransport
) -> None:
    plain = settings.with_overrides(review_hours=0)
    dispatcher, readers = inline_dispatcher(factory, plain)
    assert tick(factory, plain, dispatcher, BUILD, lambda: staff).weekly is None
    report = tick(factory, plain, dispatcher, SLOT, lambda: staff)
    assert report.weekly is not None and "sending to 3 recipients" in report.weekly.outcome
    assert sorted(readers.recipients) == READERS and staff.sent == []


def _issue_count(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(Issue)) or 0
