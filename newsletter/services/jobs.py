"""The scheduled work: the weekly job, the minute tick, and the demo of the whole pipeline."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from newsletter.config import Settings
from newsletter.jobs.demo import DemoSummary, embedded, run_demo
from newsletter.jobs.tick import TickReport
from newsletter.jobs.tick import tick as run_tick
from newsletter.jobs.weekly import WeeklyReport, run_weekly
from newsletter.services.context import Context


def weekly(ctx: Context, now: datetime | None = None, *, retry: bool = False) -> WeeklyReport:
    """Ingest ``NEWSLETTER_SOURCES``, build the coming slot's issue (``NEWSLETTER_REVIEW_HOURS``
    before it: the staff are mailed to review it), send it at ``NEWSLETTER_WEEKLY_AT`` (at
    once if that time has passed) unless an editor held it; never twice for one week,
    unless its run died, or ``retry`` asks to run a failed or finished week again (a run
    still alive is never taken over). A failure is in the report, never raised."""
    with ctx.dispatcher() as dispatcher:
        return run_weekly(
            ctx.factory,
            ctx.settings,
            dispatcher,
            now or ctx.clock(),
            retry=retry,
            transport=ctx.transport,
            probes=ctx.probes,
        )


def tick(ctx: Context, now: datetime | None = None) -> TickReport:
    """The minute's time-driven work (safe to run from several places at once)."""
    with ctx.dispatcher() as dispatcher:
        return run_tick(
            ctx.factory,
            ctx.settings,
            dispatcher,
            now or ctx.clock(),
            ctx.transport,
            probes=ctx.probes,
        )


def demo(
    settings: Settings,
    *,
    data_dir: Path | None = None,
    sample: Path | None = None,
    now: datetime | None = None,
) -> tuple[Settings, DemoSummary]:
    """The main job on the embedded default in ``data_dir``: SQLite, the shipped sample, the
    outbox. Returns the settings it ran with and what it did."""
    chosen = embedded(settings, data_dir)
    return chosen, run_demo(chosen, sample=sample, now=now)
