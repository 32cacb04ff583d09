"""Commands for issues: build, edit, preview, test copies, send or schedule, watch, steer."""

from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from newsletter.cli._app import cli, parse_now, parse_time, runtime, services
from newsletter.errors import InputError, WorkError
from newsletter.localtime import local_text

if TYPE_CHECKING:
    from newsletter.services import Context

PREVIEW_FORMATS = (
    "html",
    "text",
    "eml",
)  # newsletter.services.PREVIEW_FORMATS, without importing it


@cli.group()
def issue() -> None:
    """Build, preview, send and steer issues."""


@issue.command("build")
@click.option("--week", default=None, help="ISO week, e.g. 2026-W48 (default: this week).")
@click.option("--now", "now_text", default=None, help="Pretend it is this time (ISO 8601).")
@click.option("--again", is_flag=True, help="A new draft for a week whose issue was cancelled.")
@click.pass_context
def issue_build(ctx: click.Context, week: str | None, now_text: str | None, again: bool) -> None:
    """Build (or return the existing) draft for a week; prints the issue id."""
    from newsletter.services import issues

    now = parse_now(now_text, runtime(ctx).settings.timezone)
    result = issues.build(services(ctx), week=week, now=now, again=again)
    click.echo(result.issue_id)
    state = "built" if result.created else f"exists ({result.status.value})"
    if result.status.value == "cancelled" and not result.created:
        state += f"; 'newsletter issue build --week {result.week_key} --again' builds a new draft"
    click.echo(
        f"issue {result.issue_id} for {result.week_key} {state}: {result.new} new, "
        f"{result.trending} trending",
        err=True,
    )
    _say_trimmed(result.trimmed, result.size)


def _say_trimmed(urls: tuple[str, ...], size: int, over: bool = False) -> None:
    from newsletter.services import HTML_BUDGET

    if urls:
        click.echo(
            f"dropped {len(urls)} review(s) to keep the email under {HTML_BUDGET // 1000} KB "
            "(Gmail clips longer ones):",
            err=True,
        )
        for url in urls:
            click.echo(f"  {url}", err=True)
    if over:
        click.echo(
            f"warning: the email is {size // 1000} KB with only pinned reviews left; "
            "Gmail will clip it (unpin or drop some)",
            err=True,
        )


def parse_move(text: str) -> tuple[str, int]:
    """``--move URL:POSITION`` (the URL's own colons are fine: the position is after the last)."""
    url, sep, position = text.rpartition(":")
    if not sep or not url or not position.isdigit() or int(position) < 1:
        raise InputError(f"--move {text!r}: expected URL:POSITION, e.g. https://site/review/:1")
    return url, int(position)


@issue.command("edit")
@click.argument("issue_id", type=int)
@click.option("--subject", default=None, help='Subject line ("" for the automatic one).')
@click.option("--preheader", default=None, help='Preview text ("" for the automatic one).')
@click.option("--intro", default=None, help="The editor's note at the top.")
@click.option("--pin", "pins", multiple=True, metavar="URL", help="Put this review in; keep it.")
@click.option("--drop", "drops", multiple=True, metavar="URL", help="Take this review out.")
@click.option(
    "--move", "moves", multiple=True, metavar="URL:POSITION", help="Place a review (1 = first)."
)
@click.pass_context
def issue_edit(
    ctx: click.Context,
    issue_id: int,
    subject: str | None,
    preheader: str | None,
    intro: str | None,
    pins: tuple[str, ...],
    drops: tuple[str, ...],
    moves: tuple[str, ...],
) -> None:
    """Edit a draft: subject, preheader, intro, and which reviews go where. Every option may
    be repeated; pins, then drops, then moves are applied. A sent issue cannot be edited."""
    from newsletter.services import Edits, issues

    edits = Edits(subject, preheader, intro, pins, drops, tuple(parse_move(m) for m in moves))
    result = issues.edit(services(ctx), issue_id, edits)
    click.echo(
        f"issue {issue_id} edited (version {result.version}): {result.new} new, "
        f"{result.trending} trending"
    )
    _say_trimmed(result.trimmed.dropped, result.trimmed.size, result.trimmed.over_budget)


@issue.command("preview")
@click.argument("issue_id", type=int)
@click.option("--subscriber", "email", default=None, help="Show it as this subscriber gets it.")
@click.option("--format", "fmt", type=click.Choice(PREVIEW_FORMATS), default="html")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None)
@click.pass_context
def issue_preview(
    ctx: click.Context, issue_id: int, email: str | None, fmt: str, output: Path | None
) -> None:
    """Render an issue as HTML, text or a whole message."""
    from newsletter.services import issues

    data = issues.preview(services(ctx), issue_id, email=email, fmt=fmt)
    if output is None:
        sys.stdout.buffer.write(data)
        return
    try:
        output.write_bytes(data)
    except OSError as exc:
        raise InputError(f"-o {output}: {exc.strerror}") from exc
    click.echo(f"wrote {output}", err=True)


@issue.command("test-send")
@click.argument("issue_id", type=int)
@click.option("--to", "to", multiple=True, required=True, metavar="EMAIL", help="Repeatable.")
@click.pass_context
def issue_test_send(ctx: click.Context, issue_id: int, to: tuple[str, ...]) -> None:
    """Send test copies, every section and "[TEST]" in the subject, through the configured
    transport (SMTP, else the outbox). Not a delivery: the issue itself is unchanged."""
    from newsletter.services import issues

    settings = runtime(ctx).settings
    copies = issues.test_send(services(ctx), issue_id, list(to))
    where = "SMTP" if settings.smtp_url else f"the outbox ({settings.outbox_dir})"
    failed = [c for c in copies if c.error]
    for copy in copies:
        if copy.error is None:
            click.echo(f"test copy of issue {issue_id} sent to {copy.address} through {where}")
    if failed:
        raise WorkError("; ".join(f"{c.address}: {c.error}" for c in failed))


@issue.command("send")
@click.argument("issue_id", type=int)
@click.option(
    "--at",
    "at",
    default=None,
    help="Send at this time instead of now (ISO 8601; without an offset, in NEWSLETTER_TIMEZONE).",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (scripts).")
@click.pass_context
def issue_send(ctx: click.Context, issue_id: int, at: str | None, yes: bool) -> None:
    """Send a draft to every eligible subscriber (through workers when a broker is set).
    On a terminal it first shows how many recipients and asks; --yes skips the question."""
    from newsletter.services import issues

    zone = runtime(ctx).settings.timezone
    send_at = parse_time(at, "--at", zone) if at is not None else None
    if not yes and sys.stdin.isatty():
        _confirm_send(services(ctx), issue_id, send_at)
    if send_at is not None:
        issues.schedule(services(ctx), issue_id, send_at)
        click.echo(
            f"issue {issue_id}: scheduled for {local_text(send_at, zone)}; the minute tick "
            "(celery beat, or 'newsletter tick' from cron) starts it"
        )
        return
    sent = issues.send(services(ctx), issue_id)
    result, progress = sent.fanout, sent.progress
    click.echo(
        f"issue {issue_id}: {result.recipients} new recipients, {result.variants} variants, "
        f"{result.batches} batches {'queued' if sent.queued else 'sent'}"
    )
    click.echo(
        f"issue {issue_id}: {progress.status}; "
        + ", ".join(f"{count} {state}" for state, count in progress.counts.items() if count)
    )
    if progress.next_retry_at and not sent.queued:
        retry = local_text(progress.next_retry_at, zone)
        click.echo(
            f"some messages wait for a retry, the first at {retry}: "
            f"run 'newsletter tick' (or 'newsletter issue send {issue_id}') after that"
        )


def _confirm_send(context: Context, issue_id: int, send_at: datetime | None) -> None:
    """Ask before mailing everyone: the issue, its subject and how many would get it."""
    from newsletter.services import issues

    detail = issues.show(context, issue_id)
    audience = issues.audience(context, issue_id)
    when = f"at {local_text(send_at, context.settings.timezone)}" if send_at else "now"
    click.echo(
        f"issue {issue_id} ({detail.row.week_key}): {detail.row.subject!r}\n"
        f"goes {when} to {audience} recipient(s)."
    )
    if not click.confirm("Send it?", default=False):
        raise click.exceptions.Exit(1)


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
