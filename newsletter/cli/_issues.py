"""Commands for issues (build, preview, send, steer) and the scheduled and web verbs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from newsletter.cli._app import cli, parse_now, runtime
from newsletter.errors import InputError


@cli.group()
def issue() -> None:
    """Build, preview, send and steer issues."""


@issue.command("build")
@click.option("--week", default=None, help="ISO week, e.g. 2026-W48 (default: this week).")
@click.option("--now", "now_text", default=None, help="Pretend it is this time (ISO 8601).")
@click.pass_context
def issue_build(ctx: click.Context, week: str | None, now_text: str | None) -> None:
    """Build (or return the existing) draft for a week; prints the issue id."""
    from newsletter.db import transaction
    from newsletter.issues import build_issue

    rt = runtime(ctx)
    with transaction(rt.factory) as session:
        result = build_issue(session, rt.settings, now=parse_now(now_text), week=week)
    click.echo(result.issue_id)
    state = "built" if result.created else f"exists ({result.status.value})"
    click.echo(
        f"issue {result.issue_id} for {result.week_key} {state}: {result.new} new, "
        f"{result.trending} trending",
        err=True,
    )
    _say_trimmed(result.trimmed, result.size)


def _say_trimmed(urls: tuple[str, ...], size: int, over: bool = False) -> None:
    from newsletter.compose.budget import HTML_BUDGET

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
    from newsletter.db import transaction
    from newsletter.editing import Edits, edit_issue, parse_move

    rt = runtime(ctx)
    edits = Edits(subject, preheader, intro, pins, drops, tuple(parse_move(m) for m in moves))
    with transaction(rt.factory) as session:
        result = edit_issue(session, rt.settings, issue_id, edits, parse_now(None))
    click.echo(
        f"issue {issue_id} edited (version {result.version}): {result.new} new, "
        f"{result.trending} trending"
    )
    _say_trimmed(result.trimmed.dropped, result.trimmed.size, result.trimmed.over_budget)


@issue.command("preview")
@click.argument("issue_id", type=int)
@click.option("--subscriber", "email", default=None, help="Show it as this subscriber gets it.")
@click.option("--format", "fmt", type=click.Choice(["html", "text", "eml"]), default="html")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None)
@click.pass_context
def issue_preview(
    ctx: click.Context, issue_id: int, email: str | None, fmt: str, output: Path | None
) -> None:
    """Render an issue as HTML, text or a whole message."""
    from newsletter.preview import preview

    rt = runtime(ctx)
    with rt.factory() as session:
        data = preview(session, rt.settings, issue_id, email=email, fmt=fmt)
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
    from newsletter.errors import WorkError
    from newsletter.preview import send_test_copies

    rt = runtime(ctx)
    with rt.factory() as session:
        copies = send_test_copies(session, rt.settings, issue_id, list(to))
    where = "SMTP" if rt.settings.smtp_url else f"the outbox ({rt.settings.outbox_dir})"
    failed = [c for c in copies if c.error]
    for copy in copies:
        if copy.error is None:
            click.echo(f"test copy of issue {issue_id} sent to {copy.address} through {where}")
    if failed:
        raise WorkError("; ".join(f"{c.address}: {c.error}" for c in failed))


@issue.command("send")
@click.argument("issue_id", type=int)
@click.option("--at", "at", default=None, help="Send at this time instead of now (ISO 8601).")
@click.pass_context
def issue_send(ctx: click.Context, issue_id: int, at: str | None) -> None:
    """Send a draft to every eligible subscriber (through workers when a broker is set)."""
    from newsletter.delivery.fanout import send_issue
    from newsletter.delivery.progress import issue_progress
    from newsletter.delivery.runner import dispatcher_for

    rt = runtime(ctx)
    if at is not None:
        from newsletter.db import transaction
        from newsletter.scheduling import schedule_send

        send_at = parse_now(at)
        with transaction(rt.factory) as session:
            schedule_send(session, issue_id, send_at, parse_now(None))
        click.echo(
            f"issue {issue_id}: scheduled for {send_at:%Y-%m-%d %H:%M} UTC; the minute tick "
            "(celery beat, or 'newsletter tick' from cron) starts it"
        )
        return
    dispatcher = dispatcher_for(rt.settings, rt.factory)
    result = send_issue(rt.factory, rt.settings, issue_id, dispatcher, parse_now(None))
    click.echo(
        f"issue {issue_id}: {result.recipients} new recipients, {result.variants} variants, "
        f"{result.batches} batches {'queued' if rt.settings.broker_url else 'sent'}"
    )
    with rt.factory() as session:
        progress = issue_progress(session, issue_id)
    click.echo(
        f"issue {issue_id}: {progress.status}; "
        + ", ".join(f"{count} {state}" for state, count in progress.counts.items() if count)
    )
    if progress.next_retry_at and not rt.settings.broker_url:
        retry = progress.next_retry_at.strftime("%Y-%m-%d %H:%M")
        click.echo(
            f"some messages wait for a retry, the first at {retry} UTC: "
            f"run 'newsletter tick' (or 'newsletter issue send {issue_id}') after that"
        )


@issue.command("status")
@click.argument("issue_id", type=int)
@click.option("--follow", is_flag=True, help="Keep watching with a progress bar until done.")
@click.option("--every", default=1.0, show_default=True, help="Seconds between refreshes.")
@click.pass_context
def issue_status(ctx: click.Context, issue_id: int, follow: bool, every: float) -> None:
    """Deliveries by state, the send rate and ETA, why an issue stopped, the latest errors."""
    from newsletter.delivery.progress import issue_progress

    factory = runtime(ctx).factory
    if follow:
        _follow(factory, issue_id, every)
    with factory() as session:
        progress = issue_progress(session, issue_id)
    click.echo(f"issue {issue_id} ({progress.week_key}): {progress.status}")
    if progress.status_reason:
        click.echo(f"  why: {progress.status_reason}")
    for state, count in progress.counts.items():
        click.echo(f"  {state:<10} {count}")
    if progress.rate:
        eta = progress.eta_seconds
        click.echo(
            f"  rate       {progress.rate:.1f} messages/s over the last minute"
            + (f", about {eta:.0f} s to go" if eta else "")
        )
    for error in progress.errors:
        click.echo(f"  error      {error}")


def _follow(factory: Any, issue_id: int, every: float) -> None:
    """A rich progress bar over the sent/failed/skipped share, until the issue stops sending."""
    import time

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from newsletter.delivery.progress import issue_progress

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
            with factory() as session:
                progress = issue_progress(session, issue_id)
            done = progress.total - progress.remaining
            bar.update(
                task,
                total=progress.total or None,
                completed=done,
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
    from newsletter.db import transaction
    from newsletter.delivery.control import pause_issue

    with transaction(runtime(ctx).factory) as session:
        pause_issue(session, issue_id, parse_now(None), "paused by an operator")
    click.echo(f"issue {issue_id}: paused; 'newsletter issue resume {issue_id}' continues it")


@issue.command("resume")
@click.argument("issue_id", type=int)
@click.pass_context
def issue_resume(ctx: click.Context, issue_id: int) -> None:
    """Resume a paused issue where it stopped: nobody skipped, nobody sent twice."""
    from newsletter.delivery.control import resume_issue
    from newsletter.delivery.runner import dispatcher_for

    rt = runtime(ctx)
    steered = resume_issue(
        rt.factory, rt.settings, issue_id, dispatcher_for(rt.settings, rt.factory), parse_now(None)
    )
    how = "queued" if rt.settings.broker_url else "sent"
    click.echo(f"issue {issue_id}: resumed; {steered.affected} batches {how}")


@issue.command("cancel")
@click.argument("issue_id", type=int)
@click.pass_context
def issue_cancel(ctx: click.Context, issue_id: int) -> None:
    """Cancel a scheduled, sending or paused issue for good; what was sent stays sent."""
    from newsletter.db import transaction
    from newsletter.delivery.control import cancel_issue

    with transaction(runtime(ctx).factory) as session:
        steered = cancel_issue(session, issue_id, parse_now(None))
    click.echo(f"issue {issue_id}: cancelled; {steered.affected} queued messages will not go out")


@cli.command()
@click.option("--now", "now_text", default=None, help="Pretend it is this time (ISO 8601).")
@click.pass_context
def weekly(ctx: click.Context, now_text: str | None) -> None:
    """The weekly job now: ingest NEWSLETTER_SOURCES, build this week's issue, send it at
    NEWSLETTER_WEEKLY_AT (at once if that time has passed). Never twice for one week."""
    from newsletter.delivery.runner import dispatcher_for
    from newsletter.scheduling import run_weekly

    rt = runtime(ctx)
    report = run_weekly(
        rt.factory, rt.settings, dispatcher_for(rt.settings, rt.factory), parse_now(now_text)
    )
    for error in report.ingest_errors:
        click.echo(f"ingest error: {error}", err=True)
    if not report.ran:
        click.echo(f"week {report.week_key}: {report.outcome}; nothing done")
        return
    click.echo(f"week {report.week_key}: {report.outcome}")


@cli.command()
@click.option("--now", "now_text", default=None, help="Pretend it is this time (ISO 8601).")
@click.pass_context
def tick(ctx: click.Context, now_text: str | None) -> None:
    """Minute work without Celery beat (run it from cron): the weekly slot when due, sends
    scheduled with --at, retries whose time has come, rows of workers that died."""
    from newsletter.delivery.runner import dispatcher_for
    from newsletter.scheduling import tick as run_tick

    rt = runtime(ctx)
    report = run_tick(
        rt.factory, rt.settings, dispatcher_for(rt.settings, rt.factory), parse_now(now_text)
    )
    if report.weekly:
        click.echo(f"weekly {report.weekly.week_key}: {report.weekly.outcome}")
    for issue_id in report.started:
        click.echo(f"issue {issue_id}: scheduled send started")
    for issue_id, batches in report.redispatched.items():
        click.echo(f"issue {issue_id}: {batches} overdue batches dispatched")
    for error in report.errors:
        click.echo(f"error: {error}", err=True)


@cli.command()
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=8000, type=int)
@click.pass_context
def serve(ctx: click.Context, host: str, port: int) -> None:
    """The web app: sign-up, confirm, unsubscribe and preferences pages.

    One process (Werkzeug's server, threaded); in production run it behind a WSGI server,
    e.g. gunicorn 'newsletter.web:create_app()'.
    """
    from newsletter.web import create_app

    rt = runtime(ctx)
    app = create_app(rt.settings, factory=rt.factory)
    click.echo(f"serving on http://{host}:{port}/subscribe (Ctrl+C stops)")
    app.run(host=host, port=port, threaded=True, load_dotenv=False)
