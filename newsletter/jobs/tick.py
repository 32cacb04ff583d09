"""The minute tick: everything time-driven, safe to run from several places at once.

Every minute (Celery beat's one task, or ``newsletter tick`` from cron) it runs a weekly slot
whose run came due (the slot, ``NEWSLETTER_REVIEW_HOURS`` early) within
``NEWSLETTER_WEEKLY_GRACE_HOURS`` (catching up a run missed while everything was down, and
running again one that failed or whose process died: see ``jobs.weekly``), starts sends
whose ``send_at`` has come (unless the pre-flight check holds them: ``preflight.gate``), and
re-dispatches what is overdue: retries whose time has come,
rows of workers that died, and an issue whose queued rows nobody has touched for
:data:`STALL` (its tasks were lost with a broker restart). The database decides what is
due, so a second beat or a missed minute does no harm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.db import transaction
from newsletter.delivery.claim import claimable
from newsletter.delivery.dispatch import Dispatcher
from newsletter.delivery.fanout import send_issue
from newsletter.delivery.lease import release_stranded
from newsletter.errors import WorkError
from newsletter.issues.schedule import unschedule
from newsletter.issues.status import IllegalTransition
from newsletter.jobs.review_window import TransportFactory, notify_held
from newsletter.jobs.schedule import due_slot
from newsletter.jobs.weekly import WeeklyReport, retry_due, run_weekly
from newsletter.models import Delivery, DeliveryState, Issue, IssueStatus, WeeklyRun
from newsletter.preflight.gate import may_send
from newsletter.preflight.run import Probes

STALL = timedelta(minutes=5)


@dataclass
class TickReport:
    weekly: WeeklyReport | None = None
    started: list[int] = field(default_factory=list)
    redispatched: dict[int, int] = field(default_factory=dict)  # issue id -> batches
    held: list[int] = field(default_factory=list)  # due, but the pre-flight check found errors
    errors: list[str] = field(default_factory=list)


def tick(
    factory: sessionmaker[Session],
    settings: Settings,
    dispatcher: Dispatcher,
    now: datetime,
    transport: TransportFactory | None = None,
    probes: Probes | None = None,
) -> TickReport:
    """One minute's worth of time-driven work (safe to run from several places at once).
    ``transport``: how the weekly run mails the staff (default: per the settings);
    ``probes``: how the pre-flight check reaches the outside (default: for real)."""
    report = TickReport()
    slot = due_slot(
        now,
        settings.weekly_at,
        timedelta(hours=settings.weekly_grace_hours),
        timedelta(hours=settings.review_hours),
    )
    if slot is not None:
        with factory() as session:
            run = session.get(WeeklyRun, slot[0])
        if run is None or retry_due(run, now):  # a dead or failed run is run again
            report.weekly = run_weekly(
                factory,
                settings,
                dispatcher,
                now,
                automatic=True,
                transport=transport,
                probes=probes,
            )
    with factory() as session:
        due = list(
            session.scalars(
                select(Issue.id).where(Issue.status == IssueStatus.SCHEDULED, Issue.send_at <= now)
            )
        )
    for issue_id in due:
        gate = may_send(factory, settings, issue_id, now, probes)
        if gate.blocked:  # stays scheduled: the next tick checks again
            assert gate.report is not None
            report.held.append(issue_id)
            report.errors.append(gate.reason(issue_id))
            notify_held(factory, settings, gate.report, now, transport)
            continue
        try:
            send_issue(factory, settings, issue_id, dispatcher, now)
            report.started.append(issue_id)
        except WorkError as exc:  # nobody eligible, or another tick started it first
            report.errors.append(str(exc))
            _unschedule_if_stuck(factory, issue_id, str(exc), now)
    with transaction(factory) as session:  # rows of dead workers, any issue (Rescue's job too)
        release_stranded(session, now)
    for issue_id, count in _overdue(factory, now).items():
        batches = math.ceil(count / settings.batch_size)
        dispatcher.dispatch(issue_id, batches)
        report.redispatched[issue_id] = batches
    return report


def _unschedule_if_stuck(
    factory: sessionmaker[Session], issue_id: int, reason: str, now: datetime
) -> None:
    """A scheduled issue that cannot start goes back to draft with the reason, instead of
    failing again every minute."""
    try:
        with transaction(factory) as session:
            unschedule(session, issue_id, now, reason[:1000])
    except IllegalTransition:
        pass  # started, cancelled or unscheduled meanwhile: nothing is stuck any more


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
