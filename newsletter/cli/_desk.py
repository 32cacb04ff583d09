"""The desk's commands on the command line: list and show issues, hold, approve, unschedule,
and retry what failed. Times are shown in the publication's zone (NEWSLETTER_TIMEZONE)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from newsletter.cli._app import runtime, services
from newsletter.cli._issues import issue
from newsletter.errors import InputError
from newsletter.localtime import local_text

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from newsletter.services.issues import IssueDetail


@issue.command("list")
@click.option("--limit", default=50, show_default=True, help="How many issues, newest first.")
@click.pass_context
def issue_list(ctx: click.Context, limit: int) -> None:
    """Issues, newest first: week, status, scheduled or sent time, counts and subject."""
    from newsletter.services import issues

    if limit < 1:
        raise InputError(f"--limit {limit}: at least 1")
    zone = runtime(ctx).settings.timezone
    rows = issues.list_issues(services(ctx), limit=limit)
    if not rows:
        click.echo("no issues yet: 'newsletter issue build' makes this week's draft")
        return
    click.echo(
        f"{'ID':>5}  {'WEEK':<8}  {'STATUS':<9}  {'WHEN (' + zone.key + ')':<28}  "
        f"{'RECIPIENTS':>10}  {'SENT':>7}  {'CLICKS':>6}  SUBJECT"
    )
    for row in rows:
        at = row.sent_at if row.status == "sent" else row.send_at
        when = local_text(at, zone, empty="")
        click.echo(
            f"{row.id:>5}  {row.week_key:<8}  {row.status:<9}  {when:<28}  "
            f"{row.recipients:>10}  {row.sent:>7}  {row.clicks:>6}  {row.subject}"
        )


@issue.command("show")
@click.argument("issue_id", type=int)
@click.pass_context
def issue_show(ctx: click.Context, issue_id: int) -> None:
    """One issue: status and schedule, subject, size against the clip budget, and its
    reviews by section with positions, URLs and scores (dropped ones last)."""
    from newsletter.services import issues

    detail = issues.show(services(ctx), issue_id)
    _print_detail(detail, runtime(ctx).settings.timezone)


def _print_detail(detail: IssueDetail, zone: ZoneInfo) -> None:
    row = detail.row
    click.echo(f"issue {row.id} ({row.week_key}): {row.status}")
    if row.send_at:
        click.echo(f"  goes out   {local_text(row.send_at, zone)}")
    if row.planned_at and row.planned_at != row.send_at:
        click.echo(f"  weekly slot {local_text(row.planned_at, zone)}")
    if row.sent_at:
        click.echo(f"  sent       {local_text(row.sent_at, zone)}")
    if detail.status_reason:
        click.echo(f"  why        {detail.status_reason}")
    if row.approved_by:
        click.echo(f"  approved   by {row.approved_by}, {local_text(detail.approved_at, zone)}")
    if row.held_by:
        click.echo(f"  held       by {row.held_by}, {local_text(detail.held_at, zone)}")
    if row.check_errors is not None:
        verdict = f"{row.check_errors} error(s)" if row.check_errors else "passes"
        held = ": a scheduled send waits for a fix" if row.check_errors else ""
        click.echo(f"  pre-flight {verdict}{held} ('newsletter issue check {row.id}')")
    click.echo(f"  subject    {row.subject}")
    click.echo(f"  preheader  {detail.preheader or '(automatic)'}")
    share = 100 * detail.size / detail.budget
    verdict = "over the budget: Gmail will clip it" if detail.over_budget else "fits"
    click.echo(
        f"  size       {detail.size / 1000:.1f} KB of {detail.budget // 1000} KB "
        f"({share:.0f}%, the fullest variant): {verdict}"
    )
    if row.recipients:
        click.echo(
            f"  recipients {row.recipients}: {row.sent} sent, {row.failed} failed, "
            f"{row.clicks} clicks"
        )
    for section in ("new", "trending"):
        items = [i for i in detail.items if i.section == section]
        click.echo(f"  {section} ({sum(not i.dropped for i in items)})")
        for item in items:
            score = f"{item.score:g}/{item.score_max:g}" if item.score is not None else "-"
            marks = " pinned" if item.pinned else ""
            if item.dropped:
                place = "  x"
                marks = " dropped by the size guard" if item.trimmed else " dropped"
            else:
                place = f"{item.position:>3}"
            click.echo(f"   {place}. [{item.category}] {item.title} ({score}){marks}")
            click.echo(f"        {item.url}")


@issue.command("unschedule")
@click.argument("issue_id", type=int)
@click.pass_context
def issue_unschedule(ctx: click.Context, issue_id: int) -> None:
    """Take a scheduled issue back to draft (edit it, then schedule it again)."""
    from newsletter.services import issues

    issues.unschedule(services(ctx), issue_id)
    click.echo(f"issue {issue_id}: back to draft; 'newsletter issue send {issue_id} --at ...'")


@issue.command("hold")
@click.argument("issue_id", type=int)
@click.option("--by", required=True, metavar="EMAIL", help="Who holds it (recorded).")
@click.pass_context
def issue_hold(ctx: click.Context, issue_id: int, by: str) -> None:
    """Stop an issue from going out at its slot: it goes back to draft and the weekly job
    leaves it there until someone approves or schedules it."""
    from newsletter.services import issues

    issues.hold(services(ctx), issue_id, by)
    click.echo(f"issue {issue_id}: held by {by}; it will not go out until approved")


@issue.command("approve")
@click.argument("issue_id", type=int)
@click.option("--by", required=True, metavar="EMAIL", help="Who approves it (recorded).")
@click.pass_context
def issue_approve(ctx: click.Context, issue_id: int, by: str) -> None:
    """Approve an issue; a held draft whose weekly slot is still ahead is scheduled at it."""
    from newsletter.services import issues

    context = services(ctx)
    scheduled = issues.approve(context, issue_id, by)
    row = issues.show(context, issue_id).row
    zone = runtime(ctx).settings.timezone
    if row.send_at:
        tail = ("scheduled" if scheduled else "goes out") + f" {local_text(row.send_at, zone)}"
    else:
        tail = f"still a draft: 'newsletter issue send {issue_id}' sends it"
    click.echo(f"issue {issue_id}: approved by {by}; {tail}")


@issue.command("retry-failed")
@click.argument("issue_id", type=int)
@click.option("--temporary/--no-temporary", default=True, help="Rows that failed after 4xx.")
@click.option(
    "--unknown/--no-unknown",
    default=False,
    help="Rows whose outcome is unknown (the connection dropped after DATA: the reader may "
    "already have it, so these are opt-in).",
)
@click.option("--email", "emails", multiple=True, metavar="EMAIL", help="Only these (repeat).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (scripts).")
@click.pass_context
def issue_retry_failed(
    ctx: click.Context,
    issue_id: int,
    temporary: bool,
    unknown: bool,
    emails: tuple[str, ...],
    yes: bool,
) -> None:
    """Send again to recipients that failed temporarily (and, with --unknown, those whose
    outcome is unknown). Permanent refusals are never retried."""
    import sys

    from newsletter.services import issues

    if not (temporary or unknown):
        raise InputError("--no-temporary without --unknown: nothing to retry")
    context = services(ctx)
    if not yes and sys.stdin.isatty():
        counts = issues.retryable_counts(context, issue_id)
        chosen = (counts["temporary"] if temporary else 0) + (counts["unknown"] if unknown else 0)
        click.echo(f"issue {issue_id}: up to {chosen} recipient(s) would be sent to again.")
        if not click.confirm("Retry them?", default=False):
            raise click.exceptions.Exit(1)
    retried = issues.retry_failed(
        context, issue_id, temporary=temporary, unknown=unknown, emails=emails
    )
    how = "queued for the workers" if runtime(ctx).settings.broker_url else "sent"
    click.echo(f"issue {issue_id}: {retried.rows} recipient(s) {how} again ({retried.status})")
