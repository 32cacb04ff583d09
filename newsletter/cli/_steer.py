"""Watching and steering a send: status (with a progress bar), pause, resume, cancel."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import click

from newsletter.cli._app import runtime, services
from newsletter.cli._issues import issue

if TYPE_CHECKING:
    from newsletter.services import Context


@issue.command("status")
@click.argument("issue_id", type=int)
@click.option("--follow", is_flag=True, help="Keep watching with a progress bar until done.")
@click.option("--every", default=1.0, show_default=True, help="Seconds between refreshes.")
@click.pass_context
def issue_status(ctx: click.Context, issue_id: int, follow: bool, every: float) -> None:
    """Deliveries by state, the send rate and ETA, why an issue stopped, the latest errors."""
    from newsletter.services import issues

    if follow:
        _follow(services(ctx), issue_id, every)
    progress = issues.status(services(ctx), issue_id)
    click.echo(f"issue {issue_id} ({progress.week_key}): {progress.status}")
    if progress.status_reason:
        click.echo(f"  why: {progress.status_reason}")
    for state, count in progress.counts.items():
        click.echo(f"  {state:<10} {count}")
    stalled = progress.stalled
    if stalled is not None:
        now = progress.now or stalled.free_at
        ago = max(0, (now - stalled.since).total_seconds())
        click.echo(
            f"  stalled    {stalled.rows} held by {', '.join(stalled.holders)}, which stopped "
            f"renewing {ago:.0f} s ago ({stalled.since:%H:%M:%S} UTC)"
        )
        if stalled.free_at > now:
            left = (stalled.free_at - now).total_seconds()
            click.echo(
                f"             back in the queue in {left:.0f} s ({stalled.free_at:%H:%M:%S} "
                "UTC), then an idle worker sends them"
            )
        else:
            click.echo(
                "             their lease ran out: an idle worker takes them within seconds "
                f"(without workers: 'newsletter issue send {issue_id}')"
            )
    if progress.rate:
        eta = progress.eta_seconds
        if not progress.remaining:
            tail = ""
        elif eta is not None:
            tail = f", about {eta:.0f} s to go"
        elif stalled is not None:
            tail = "; no estimate while rows are stalled"
        else:
            tail = "; nothing sent in the last 10 s, no estimate"
        click.echo(f"  rate       {progress.rate:.1f} messages/s over the last minute{tail}")
    if progress.next_retry_at is not None and progress.counts.get("queued"):
        click.echo(
            f"  retry      the next deferred reader is due at {progress.next_retry_at:%H:%M:%S} UTC"
        )
    for note in progress.outages:  # the SMTP server failing everyone, as a worker met it
        span = "still failing" if note.until is None else f"{note.seconds:.0f} s, {note.ended}"
        click.echo(
            f"  outage     {note.since:%H:%M:%S} UTC ({span}): {note.tries} retries by "
            f"{note.worker}; {'; '.join(note.replies)}"
        )
    for error in progress.errors:
        click.echo(f"  error      {error}")


def _follow(context: Context, issue_id: int, every: float) -> None:
    """A rich progress bar over the sent/failed/skipped share, until the issue stops sending."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from newsletter.services import issues

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task(f"issue {issue_id}", total=None, rate="")
        while True:
            progress = issues.status(context, issue_id)
            bar.update(
                task,
                total=progress.total or None,
                completed=progress.total - progress.remaining,
                description=f"issue {issue_id} {progress.status}",
                rate=f"{progress.rate:.1f}/s",
            )
            if progress.status not in ("sending", "scheduled"):
                break
            time.sleep(every)


@issue.command("pause")
@click.argument("issue_id", type=int)
@click.pass_context
def issue_pause(ctx: click.Context, issue_id: int) -> None:
    """Pause a sending issue; every worker stops within about a second."""
    from newsletter.services import issues

    issues.pause(services(ctx), issue_id)
    click.echo(f"issue {issue_id}: paused; 'newsletter issue resume {issue_id}' continues it")


@issue.command("resume")
@click.argument("issue_id", type=int)
@click.pass_context
def issue_resume(ctx: click.Context, issue_id: int) -> None:
    """Resume a paused issue where it stopped: nobody skipped, nobody sent twice."""
    from newsletter.services import issues

    steered = issues.resume(services(ctx), issue_id)
    how = "queued" if runtime(ctx).settings.broker_url else "sent"
    click.echo(f"issue {issue_id}: resumed; {steered.affected} batches {how}")


@issue.command("cancel")
@click.argument("issue_id", type=int)
@click.pass_context
def issue_cancel(ctx: click.Context, issue_id: int) -> None:
    """Cancel a scheduled, sending or paused issue for good; what was sent stays sent."""
    from newsletter.services import issues

    steered = issues.cancel(services(ctx), issue_id)
    click.echo(f"issue {issue_id}: cancelled; {steered.affected} queued messages will not go out")
