"""The weekly job: ingest the configured sources, build this week's issue, send it at the slot.

A run is recorded under its week key (``weekly_runs``, primary key) before it does anything,
so two beat processes, a restarted beat or a manual run never build or send one week twice. A
run that started but never finished (its process died) may be taken over after
:data:`TAKEOVER`; building and sending are idempotent anyway.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.db import transaction
from newsletter.delivery.dispatch import Dispatcher
from newsletter.delivery.fanout import send_issue
from newsletter.errors import NewsletterError
from newsletter.ingest import Fetcher, fetch_policy, ingest_sources
from newsletter.issues.build import build_issue
from newsletter.issues.content import get_issue
from newsletter.issues.schedule import schedule_send
from newsletter.jobs.schedule import weekly_slot
from newsletter.models import IssueStatus, WeeklyRun

TAKEOVER = timedelta(minutes=30)


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
