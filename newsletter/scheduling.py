"""Time-driven work: the weekly job, sends scheduled with ``--at``, and the minute tick.

- The weekly slot is ``NEWSLETTER_WEEKLY_AT`` (weekday, wall-clock time, IANA zone) in the ISO
  week of a moment, computed in that zone every week, so 09:00 stays 09:00 local across DST
  changes. A nonexistent local time (the spring-forward gap) resolves the way ``zoneinfo``
  does with ``fold=0``: one hour later in UTC terms, which is the usual expectation.
- A run is recorded under its week key (``weekly_runs``, primary key) before it does anything,
  so two beat processes, a restarted beat or a manual run never build or send one week twice.
  A run that started but never finished (its process died) may be taken over after
  :data:`TAKEOVER`; building and sending are idempotent anyway.
- The tick (every minute from Celery beat, or ``newsletter tick`` from cron) runs a weekly slot
  that came due within ``NEWSLETTER_WEEKLY_GRACE_HOURS`` (catching up a run missed while
  everything was down), starts sends whose ``send_at`` has come, and re-dispatches what is
  overdue: retries whose time has come, rows of workers that died, and an issue whose queued
  rows nobody has touched for :data:`STALL` (its tasks were lost with a broker restart).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings, WeeklyAt
from newsletter.db import transaction
from newsletter.delivery.claim import claimable
from newsletter.delivery.dispatch import Dispatcher
from newsletter.delivery.fanout import send_issue
from newsletter.errors import InputError, NewsletterError, WorkError
from newsletter.ingest import Fetcher, fetch_policy, ingest_sources
from newsletter.issues import build_issue, get_issue
from newsletter.models import Delivery, DeliveryState, Issue, IssueStatus, WeeklyRun

TAKEOVER = timedelta(minutes=30)
STALL = timedelta(minutes=5)


def weekly_slot(moment: datetime, weekly: WeeklyAt) -> tuple[str, datetime]:
    """(week key, the weekly send time in UTC) of the ISO week ``moment`` falls in, in the
    weekly zone."""
    local = moment.astimezone(weekly.tz)
    iso = local.isocalendar()
    day = date.fromisocalendar(iso.year, iso.week, weekly.weekday + 1)
    at = datetime.combine(day, weekly.at, tzinfo=weekly.tz)
    return f"{iso.year}-W{iso.week:02d}", at.astimezone(moment.tzinfo or weekly.tz)


def due_slot(now: datetime, weekly: WeeklyAt, grace: timedelta) -> tuple[str, datetime] | None:
    """The weekly slot that is due at ``now`` (this week's or, across a week boundary, last
    week's), if it came due less than ``grace`` ago."""
    for moment in (now, now - timedelta(days=7)):
        key, at = weekly_slot(moment, weekly)
        if at <= now <= at + grace:
            return key, at
    return None


@dataclass
class WeeklyReport:
    week_key: str
    ran: bool = False  # False: this week was already run by someone else
    issue_id: int | None = None
    outcome: str = ""
    ingest_errors: list[str] = field(default_factory=list)


def _claim_week(session: Session, key: str, now: datetime) -> bool:
    try:
        with session.begin_nested():
            session.add(WeeklyRun(week_key=key, started_at=now))
        return True
    except IntegrityError:
        pass
    # Another run has this week. Take it over only if it started long ago and never finished.
    taken = session.execute(
        update(WeeklyRun)
        .where(
            WeeklyRun.week_key == key,
            WeeklyRun.finished_at.is_(None),
            WeeklyRun.started_at < now - TAKEOVER,
        )
        .values(started_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(taken, "rowcount", 0))


def run_weekly(
    factory: sessionmaker[Session],
    settings: Settings,
    dispatcher: Dispatcher,
    now: datetime,
    fetcher: Fetcher | None = None,
) -> WeeklyReport:
    """Ingest ``NEWSLETTER_SOURCES``, build this week's issue, send it at the weekly time
    (now, when that time has passed). At most once per week key."""
    key, send_at = weekly_slot(now, settings.weekly_at)
    report = WeeklyReport(key)
    with transaction(factory) as session:
        if not _claim_week(session, key, now):
            run = session.get(WeeklyRun, key)
            report.issue_id = run.issue_id if run else None
            report.outcome = f"already run ({run.outcome or 'in progress'})" if run else ""
            return report
    report.ran = True
    if settings.sources:
        policy = fetch_policy(settings.site_url, settings.fetch_timeout, settings.fetch_max_bytes)
        client = fetcher or Fetcher(policy)
        try:
            for ingested in ingest_sources(
                factory, list(settings.sources), settings.site_url, fetcher=client
            ):
                if ingested.error:
                    report.ingest_errors.append(ingested.error)
        finally:
            if fetcher is None:
                client.close()
    try:
        with transaction(factory) as session:
            built = build_issue(session, settings, now=now)
        report.issue_id = built.issue_id
        if send_at > now:
            with transaction(factory) as session:
                schedule_send(session, built.issue_id, send_at, now)
            report.outcome = f"issue {built.issue_id} scheduled for {send_at:%Y-%m-%d %H:%M} UTC"
        else:
            with factory() as session:
                status = get_issue(session, built.issue_id).status
            if status is IssueStatus.DRAFT:
                sent = send_issue(factory, settings, built.issue_id, dispatcher, now)
                report.outcome = f"issue {built.issue_id} sending to {sent.recipients} recipients"
            else:  # an operator scheduled, sent or cancelled it: theirs is the last word
                report.outcome = f"issue {built.issue_id} already {status.value}"
    except NewsletterError as exc:
        report.outcome = str(exc)
    with transaction(factory) as session:
        session.execute(
            update(WeeklyRun)
            .where(WeeklyRun.week_key == key)
            .values(finished_at=now, issue_id=report.issue_id, outcome=report.outcome[:2000])
            .execution_options(synchronize_session=False)
        )
    return report


def schedule_send(session: Session, issue_id: int, at: datetime, now: datetime) -> Issue:
    """Send a draft at ``at``: the time lives in the database; the tick starts it."""
    issue = get_issue(session, issue_id)
    if issue.status not in (IssueStatus.DRAFT, IssueStatus.SCHEDULED):
        raise WorkError(f"issue {issue_id} is {issue.status.value}; only a draft can be scheduled")
    if at <= now:
        raise InputError(f"--at {at.isoformat()}: that is in the past; leave --at out to send now")
    issue.status = IssueStatus.SCHEDULED
    issue.send_at = at
    issue.updated_at = now
    return issue


@dataclass
class TickReport:
    weekly: WeeklyReport | None = None
    started: list[int] = field(default_factory=list)
    redispatched: dict[int, int] = field(default_factory=dict)  # issue id -> batches
    errors: list[str] = field(default_factory=list)


def tick(
    factory: sessionmaker[Session], settings: Settings, dispatcher: Dispatcher, now: datetime
) -> TickReport:
    """One minute's worth of time-driven work (safe to run from several places at once)."""
    report = TickReport()
    slot = due_slot(now, settings.weekly_at, timedelta(hours=settings.weekly_grace_hours))
    if slot is not None:
        with factory() as session:
            run = session.get(WeeklyRun, slot[0])
        if run is None or (run.finished_at is None and run.started_at < now - TAKEOVER):
            report.weekly = run_weekly(factory, settings, dispatcher, now)
    with factory() as session:
        due = list(
            session.scalars(
                select(Issue.id).where(Issue.status == IssueStatus.SCHEDULED, Issue.send_at <= now)
            )
        )
    for issue_id in due:
        try:
            send_issue(factory, settings, issue_id, dispatcher, now)
            report.started.append(issue_id)
        except WorkError as exc:  # nobody eligible, or another tick started it first
            report.errors.append(str(exc))
            _unschedule_if_stuck(factory, issue_id, str(exc))
    for issue_id, count in _overdue(factory, now).items():
        batches = math.ceil(count / settings.batch_size)
        dispatcher.dispatch(issue_id, batches)
        report.redispatched[issue_id] = batches
    return report


def _unschedule_if_stuck(factory: sessionmaker[Session], issue_id: int, reason: str) -> None:
    """A scheduled issue that cannot start goes back to draft with the reason, instead of
    failing again every minute."""
    with transaction(factory) as session:
        session.execute(
            update(Issue)
            .where(Issue.id == issue_id, Issue.status == IssueStatus.SCHEDULED)
            .values(status=IssueStatus.DRAFT, status_reason=reason[:1000])
            .execution_options(synchronize_session=False)
        )


def _overdue(factory: sessionmaker[Session], now: datetime) -> dict[int, int]:
    """Rows of sending issues that no queued task is going to take: retries whose time has
    come, expired leases, and all queued rows of an issue idle for :data:`STALL`."""
    found: dict[int, int] = {}
    with factory() as session:
        sending = list(session.scalars(select(Issue.id).where(Issue.status == IssueStatus.SENDING)))
        for issue_id in sending:
            last = session.scalar(
                select(func.max(Delivery.sent_at)).where(Delivery.issue_id == issue_id)
            )
            issue = session.get(Issue, issue_id)
            assert issue is not None
            idle = max(x for x in (last, issue.updated_at) if x is not None) < now - STALL
            retry_or_dead = or_(
                Delivery.next_at.is_not(None), Delivery.state == DeliveryState.SENDING
            )
            condition = claimable(now) if idle else claimable(now) & retry_or_dead
            count = session.scalar(
                select(func.count()).where(Delivery.issue_id == issue_id, condition)
            )
            if count:
                found[issue_id] = count
    return found
