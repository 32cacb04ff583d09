"""Commands for issues: build, edit, preview, test copies, send or schedule (watching and
steering a send: ``_steer``; the desk's list, show, hold, approve, retry: ``_desk``)."""

from __future__ import annotations

import sys
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
    if progress.status == "paused" and progress.status_reason:
        click.echo(
            f"  {progress.status_reason}\n"
            f"  once that is fixed: 'newsletter issue resume {issue_id}'"
        )
    elif progress.next_retry_at and not sent.queued:
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
