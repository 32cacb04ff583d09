"""The weekly job: ingest the configured sources, build this week's issue, send it at the slot.

A run is recorded under its week key (``weekly_runs``, primary key) before it does anything,
so two beat processes, a restarted beat or a manual run never build or send one week twice.
Building and sending are idempotent anyway; the record is about not doing the work twice and
about telling the operator what happened. A run is in one of four states (:func:`state`):

- **running**: unfinished, and its process shows it is alive: a thread writes
  ``heartbeat_at`` every :data:`HEARTBEAT` whatever the job is doing (a slow fetch included);
- **dead**: unfinished, and silent for :data:`SILENCE` (its process was killed, or the machine
  went down); any run may take it over;
- **failed**: it raised (a database outage, a bug, Ctrl+C); the reason is its ``outcome``. The
  tick runs it again at once, then backing off (:func:`retry_due`); an operator may at any time;
- **done**: finished. One source failing is not a failed run: each source fails alone, the
  issue is built from the others, and the outcome counts the failed sources.

Taking a run over is one conditional ``UPDATE`` on the attempt number seen, so of two takers
exactly one wins; a taken-over attempt that was only slow can no longer write its row.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import ColumnElement, func, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.db import transaction
from newsletter.delivery.dispatch import Dispatcher
from newsletter.errors import NewsletterError
from newsletter.ingest import Fetcher, fetch_policy, ingest_sources
from newsletter.ingest.records import describe_failure, one_line
from newsletter.issues.build import build_issue
from newsletter.jobs.review_window import TransportFactory, plan_issue
from newsletter.jobs.schedule import next_slot
from newsletter.models import WeeklyRun
from newsletter.preflight.run import Probes

HEARTBEAT = 15.0  # seconds between two signs of life of a running attempt
SILENCE = timedelta(minutes=2)  # no sign of life for this long: the attempt is dead
MAX_BACKOFF = timedelta(hours=1)  # the tick's pause between automatic retries grows to this

State = Literal["running", "dead", "failed", "done"]


@dataclass
class WeeklyReport:
    week_key: str
    ran: bool = False  # False: this week's run was not ours to do (see ``state``)
    issue_id: int | None = None
    outcome: str = ""
    ingest_errors: list[str] = field(default_factory=list)
    state: State = "done"  # of the week's run once this call is over

    @property
    def failed(self) -> bool:
        """The run failed, or a source did: worth an exit status that says so."""
        return self.state == "failed" or bool(self.ingest_errors)


def state(run: WeeklyRun, now: datetime) -> State:
    if run.finished_at is None:
        alive = run.heartbeat_at or run.started_at
        return "dead" if alive < now - SILENCE else "running"
    return "failed" if run.failed else "done"


def retry_due(run: WeeklyRun, now: datetime) -> bool:
    """Whether the tick should run this week again: it never ran to the end (dead), or it
    failed and its ``attempts``-th attempt started 1, 2, 4... minutes ago (at most
    :data:`MAX_BACKOFF`): the tick after a first failure runs it again, later ones wait longer,
    so a lasting fault does not fetch every source every minute."""
    current = state(run, now)
    if current == "failed":
        pause = min(timedelta(minutes=2 ** min(run.attempts - 1, 10)), MAX_BACKOFF)
        return now >= run.started_at + pause
    return current == "dead"


def _claim(session: Session, key: str, now: datetime, *, retry: bool, automatic: bool) -> int:
    """The attempt number this call now owns, or 0 when the week is not ours to run."""
    try:
        with session.begin_nested():
            session.add(WeeklyRun(week_key=key, started_at=now, heartbeat_at=now, attempts=1))
        return 1
    except IntegrityError:
        pass
    run = session.get(WeeklyRun, key, populate_existing=True)
    if run is None:
        return 0
    current = state(run, now)
    if not (
        current == "dead"
        or (retry and current in ("failed", "done"))
        or (automatic and retry_due(run, now))
    ):
        return 0
    seen = run.attempts
    # Still as seen when the row is locked: a slow run that beat or finished meanwhile stays.
    still = (
        (
            WeeklyRun.finished_at.is_(None),
            func.coalesce(WeeklyRun.heartbeat_at, WeeklyRun.started_at) < now - SILENCE,
        )
        if current == "dead"
        else (WeeklyRun.finished_at.is_not(None),)
    )
    taken = session.execute(
        update(WeeklyRun)
        .where(WeeklyRun.week_key == key, WeeklyRun.attempts == seen, *still)
        .values(
            started_at=now,
            heartbeat_at=now,
            finished_at=None,
            failed=False,
            outcome=None,
            attempts=seen + 1,
        )
        .execution_options(synchronize_session=False)
    )
    return seen + 1 if getattr(taken, "rowcount", 0) else 0


def _mine(key: str, attempt: int) -> tuple[ColumnElement[bool], ...]:
    return (WeeklyRun.week_key == key, WeeklyRun.attempts == attempt)


def _why_not(run: WeeklyRun, current: State, now: datetime) -> str:
    if current == "running":
        alive = run.heartbeat_at or run.started_at
        seconds = max(0, int((now - alive).total_seconds()))
        return (
            f"in progress since {run.started_at:%Y-%m-%d %H:%M} UTC "
            f"(attempt {run.attempts}, last sign of life {seconds} s ago)"
        )
    if current == "failed":
        return f"attempt {run.attempts} {run.outcome or 'failed'}"
    return f"already run ({run.outcome or 'no outcome recorded'})"


@contextmanager
def _heartbeat(
    factory: sessionmaker[Session], key: str, attempt: int, clock: _Clock
) -> Iterator[None]:
    """Write ``heartbeat_at`` every :data:`HEARTBEAT` from a thread of its own while the
    block runs, so that only a dead process falls silent."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT):
            try:
                with transaction(factory) as session:
                    session.execute(
                        update(WeeklyRun)
                        .where(*_mine(key, attempt), WeeklyRun.finished_at.is_(None))
                        .values(heartbeat_at=clock())
                        .execution_options(synchronize_session=False)
                    )
            except Exception:  # noqa: S112 - the database is busy or down: beat again later
                continue

    thread = threading.Thread(target=beat, name=f"weekly-heartbeat-{key}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


class _Clock:
    """``now`` as the caller gave it, moving on in real time (``--now`` pretends a moment)."""

    def __init__(self, now: datetime) -> None:
        self.start, self.t0 = now, time.monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self.t0)


def run_weekly(
    factory: sessionmaker[Session],
    settings: Settings,
    dispatcher: Dispatcher,
    now: datetime,
    fetcher: Fetcher | None = None,
    *,
    retry: bool = False,
    automatic: bool = False,
    transport: TransportFactory | None = None,
    probes: Probes | None = None,
) -> WeeklyReport:
    """Ingest ``NEWSLETTER_SOURCES``, build the coming slot's issue, and schedule it for the
    slot (telling the staff, with a review window: :mod:`newsletter.jobs.review_window`), or
    send it now when the slot has passed. At most once per week key, unless the week's run died
    (taken over by anyone), failed (``retry``; ``automatic``: once its pause is over, for the
    tick) or finished (``retry``: run it again, e.g. after fixing a source). Never raises for a
    failure of the work: the report and the run's record say what failed."""
    key, send_at = next_slot(now, settings.weekly_at, timedelta(hours=settings.review_hours))
    report = WeeklyReport(key)
    with transaction(factory) as session:
        attempt = _claim(session, key, now, retry=retry, automatic=automatic)
        if not attempt:
            run = session.get(WeeklyRun, key)
            if run is not None:
                report.issue_id, report.state = run.issue_id, state(run, now)
                report.outcome = _why_not(run, report.state, now)
            return report
    report.ran, clock = True, _Clock(now)
    try:
        with _heartbeat(factory, key, attempt, clock):
            _work(factory, settings, dispatcher, now, send_at, fetcher, report, transport, probes)
    except BaseException as exc:  # Ctrl+C and SystemExit are recorded too, then go on
        report.state = "failed"
        report.outcome = f"failed: {describe_failure(exc)}"
        _finish(factory, key, attempt, clock(), report)
        if not isinstance(exc, Exception):
            raise
        return report
    _finish(factory, key, attempt, clock(), report)
    return report


def _work(
    factory: sessionmaker[Session],
    settings: Settings,
    dispatcher: Dispatcher,
    now: datetime,
    send_at: datetime,
    fetcher: Fetcher | None,
    report: WeeklyReport,
    transport: TransportFactory | None = None,
    probes: Probes | None = None,
) -> None:
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
            built = build_issue(session, settings, now=now, week=report.week_key)
        report.issue_id = built.issue_id
        report.outcome = plan_issue(
            factory, settings, dispatcher, built.issue_id, send_at, now, transport, probes
        )
    except NewsletterError as exc:
        report.outcome = str(exc)
    if report.ingest_errors:
        count = len(report.ingest_errors)
        report.outcome += f"; {count} source{'s' if count > 1 else ''} failed"


def _finish(
    factory: sessionmaker[Session], key: str, attempt: int, at: datetime, report: WeeklyReport
) -> None:
    """Record how the attempt ended, unless another run has taken the week over meanwhile.
    A database that is down cannot record a failure: the silence marks the run dead then."""
    try:
        with transaction(factory) as session:
            session.execute(
                update(WeeklyRun)
                .where(*_mine(key, attempt))
                .values(
                    finished_at=at,
                    heartbeat_at=at,
                    issue_id=report.issue_id,
                    failed=report.state == "failed",
                    outcome=one_line(report.outcome, 2000),
                )
                .execution_options(synchronize_session=False)
            )
    except Exception:
        if report.state != "failed":
            raise
