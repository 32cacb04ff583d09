"""The weekly slot across DST, one run per week, sends scheduled with --at, the minute tick."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings, parse_weekly_at
from newsletter.db import transaction
from newsletter.delivery.dispatch import InlineDispatcher
from newsletter.errors import InputError
from newsletter.ingest.store import store_reviews
from newsletter.issues.build import build_issue
from newsletter.issues.schedule import schedule_send
from newsletter.jobs.schedule import due_slot, weekly_slot
from newsletter.jobs.tick import tick
from newsletter.jobs.weekly import run_weekly
from newsletter.models import Delivery, DeliveryState, Issue, IssueStatus, WeeklyRun
from tests.helpers.factories import NOW, inline_dispatcher, review, subscriber

FRIDAY_9_NY = parse_weekly_at("fri 09:00 America/New_York")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """These tests are about the slot itself: no review window (NEWSLETTER_REVIEW_HOURS=0,
    build and send together); tests/jobs/test_review_window.py has the window."""
    return settings.with_overrides(review_hours=0)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        ("2026-07-15T12:00", ("2026-W29", "2026-07-17T13:00")),  # EDT, UTC-4
        ("2026-11-24T12:00", ("2026-W48", "2026-11-27T14:00")),  # EST, UTC-5
        ("2026-10-30T12:00", ("2026-W44", "2026-10-30T13:00")),  # the Friday before fall back
        ("2026-11-06T12:00", ("2026-W45", "2026-11-06T14:00")),  # the Friday after it
    ],
)
def test_weekly_slot_keeps_local_time_across_dst(moment: str, expected: tuple[str, str]) -> None:
    key, at = weekly_slot(utc(moment), FRIDAY_9_NY)
    assert (key, at) == (expected[0], utc(expected[1]))


def test_a_slot_in_the_spring_forward_gap_resolves_like_zoneinfo() -> None:
    weekly = parse_weekly_at("sun 02:30 America/New_York")  # 2026-03-08 02:30 does not exist
    assert weekly_slot(utc("2026-03-07T12:00"), weekly)[1] == utc("2026-03-08T07:30")


def test_due_slot_honours_the_grace_and_week_boundaries() -> None:
    grace = timedelta(hours=12)
    assert due_slot(utc("2026-11-27T15:00"), FRIDAY_9_NY, grace) == (
        "2026-W48",
        utc("2026-11-27T14:00"),
    )
    assert due_slot(utc("2026-11-27T13:59"), FRIDAY_9_NY, grace) is None
    assert due_slot(utc("2026-11-28T02:01"), FRIDAY_9_NY, grace) is None
    sunday_late = parse_weekly_at("sun 23:00 America/New_York")
    # Monday 01:00 local is the next ISO week; last week's Sunday slot is still due
    assert due_slot(utc("2026-11-30T06:00"), sunday_late, grace) == (
        "2026-W48",
        utc("2026-11-30T04:00"),
    )


@pytest.fixture
def week(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        store_reviews(session, [review("a", "Film"), review("b", "TV")], now=NOW)
        for n in range(3):
            subscriber(session, f"r{n}@example.com")


def _count(factory: sessionmaker[Session], model: type[object]) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_two_weekly_runs_for_one_week_give_one_issue_sent_once(
    factory: sessionmaker[Session], settings: Settings, week: None
) -> None:
    dispatcher, transport = inline_dispatcher(factory, settings)
    first = run_weekly(factory, settings, dispatcher, NOW)
    second = run_weekly(factory, settings, dispatcher, NOW + timedelta(minutes=5))
    assert first.ran and first.outcome == f"issue {first.issue_id} sending to 3 recipients"
    assert not second.ran and second.outcome.startswith("already run (issue")
    assert sorted(transport.recipients) == ["r0@example.com", "r1@example.com", "r2@example.com"]
    assert _count(factory, Issue) == 1


def test_concurrent_weekly_runs_only_one_wins(
    factory: sessionmaker[Session], settings: Settings, week: None
) -> None:
    reports = []
    dispatcher, transport = inline_dispatcher(factory, settings)

    def run() -> None:
        reports.append(run_weekly(factory, settings, dispatcher, NOW))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.ran for r in reports) == 1
    assert len(transport.recipients) == 3
    assert _count(factory, WeeklyRun) == 1


def test_a_weekly_run_before_the_slot_schedules_the_send(
    factory: sessionmaker[Session], settings: Settings, week: None
) -> None:
    dispatcher, transport = inline_dispatcher(factory, settings)
    early = utc("2026-11-27T10:00")  # 05:00 in New York: the slot is at 09:00
    report = run_weekly(factory, settings, dispatcher, early)
    assert report.outcome.startswith(
        f"issue {report.issue_id} scheduled for 2026-11-27 09:00 EST (-05:00)"
    )
    assert tick(factory, settings, dispatcher, utc("2026-11-27T13:59")).started == []
    assert transport.recipients == []
    started = tick(factory, settings, dispatcher, utc("2026-11-27T14:00"))
    assert started.started == [report.issue_id] and started.weekly is None
    assert len(transport.recipients) == 3


def test_tick_catches_up_a_missed_slot_within_the_grace_only(
    factory: sessionmaker[Session], settings: Settings, week: None
) -> None:
    dispatcher, transport = inline_dispatcher(factory, settings)
    late = tick(factory, settings, dispatcher, utc("2026-11-28T03:00"))  # 13 h after the slot
    assert late.weekly is None and transport.recipients == []
    caught = tick(factory, settings, dispatcher, utc("2026-11-27T17:00"))  # 3 h after
    assert caught.weekly is not None and caught.weekly.ran
    assert len(transport.recipients) == 3
    again = tick(factory, settings, dispatcher, utc("2026-11-27T17:01"))
    assert again.weekly is None


def test_send_at_lives_in_the_database(
    factory: sessionmaker[Session], settings: Settings, week: None
) -> None:
    with transaction(factory) as session:
        issue_id = build_issue(session, settings, now=NOW).issue_id
    with pytest.raises(InputError, match="in the past"), transaction(factory) as session:
        schedule_send(session, issue_id, NOW - timedelta(minutes=1), NOW)
    with transaction(factory) as session:
        schedule_send(session, issue_id, NOW + timedelta(hours=2), NOW)
    dispatcher, transport = inline_dispatcher(factory, settings)
    early = tick(factory, settings, dispatcher, NOW + timedelta(hours=1))
    # the weekly slot (14:00 UTC) is due too, but leaves the operator's schedule alone
    assert early.started == [] and early.weekly is not None
    assert early.weekly.outcome == (
        f"issue {issue_id} already scheduled for 2026-11-27 12:00 EST (-05:00)"
    )
    assert transport.recipients == []
    assert tick(factory, settings, dispatcher, NOW + timedelta(hours=2)).started == [issue_id]
    assert len(transport.recipients) == 3
    assert tick(factory, settings, dispatcher, NOW + timedelta(hours=3)).started == []


def test_a_scheduled_issue_nobody_can_get_goes_back_to_draft(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    with transaction(factory) as session:
        store_reviews(session, [review("a", "Film")], now=NOW)
        issue_id = build_issue(session, settings, now=NOW).issue_id
        schedule_send(session, issue_id, NOW + timedelta(minutes=1), NOW)
    dispatcher, _ = inline_dispatcher(factory, settings)
    report = tick(factory, settings, dispatcher, NOW + timedelta(minutes=2))
    assert report.started == [] and "no eligible subscribers" in report.errors[0]
    with factory() as session:
        issue = session.get(Issue, issue_id)
        assert issue is not None and issue.status is IssueStatus.DRAFT
        assert issue.status_reason is not None and "no eligible" in issue.status_reason


def test_tick_redispatches_due_retries_and_dead_workers_rows(
    factory: sessionmaker[Session], settings: Settings, week: None
) -> None:
    with transaction(factory) as session:
        issue_id = build_issue(session, settings, now=NOW).issue_id
    from newsletter.delivery.fanout import send_issue

    send_issue(factory, settings, issue_id, InlineDispatcher(lambda _i: 0), NOW)
    later = NOW + timedelta(minutes=1)
    with transaction(factory) as session:  # one retry due, one row of a dead worker
        ids = session.scalars(select(Delivery.id).order_by(Delivery.id)).all()
        session.execute(
            update(Delivery).where(Delivery.id == ids[0]).values(next_at=NOW, attempts=1)
        )
        session.execute(
            update(Delivery)
            .where(Delivery.id == ids[1])
            .values(state=DeliveryState.SENDING, lease_until=NOW, claimed_by="dead:1")
        )
    dispatched: list[tuple[int, int]] = []

    class Recording:
        def dispatch(self, issue: int, batches: int) -> None:
            dispatched.append((issue, batches))

    report = tick(factory, settings, Recording(), later)
    assert report.redispatched == {issue_id: 1} and dispatched == [(issue_id, 1)]
    # the third row is fresh and its batch task is presumably queued: left alone until idle
    idle = tick(factory, settings, Recording(), NOW + timedelta(minutes=10))
    assert idle.redispatched == {issue_id: 1}
