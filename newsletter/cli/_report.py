"""``newsletter issue report ID [--csv]``: an issue's figures, or its per-review CSV.

The figures are :func:`newsletter.services.reports.report`'s (what each counts is said
there); times are shown in the publication's zone with their offset.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from newsletter.cli._app import services
from newsletter.cli._issues import issue

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from newsletter.services.reports import IssueReport


@issue.command("report")
@click.argument("issue_id", type=int)
@click.option(
    "--csv", "as_csv", is_flag=True, help="Print the per-review figures as CSV (RFC 4180)."
)
@click.pass_context
def issue_report(ctx: click.Context, issue_id: int, as_csv: bool) -> None:
    """Delivered, bounced, complained, unsubscribed, opens where tracked, and clicks per
    review and per hour of a sent (or sending) issue."""
    from newsletter.services import reports

    context = services(ctx)
    figures = reports.report(context, issue_id)
    if as_csv:
        click.echo(reports.figures_csv(figures.reviews), nl=False)
        return
    for line in describe(figures, context.settings.timezone):
        click.echo(line)


def _rate(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def describe(r: IssueReport, tz: ZoneInfo) -> list[str]:
    """The report as lines of text."""
    from newsletter.localtime import local_text

    lines = [f"issue {r.issue_id} for {r.week_key} ({r.status}): {r.subject}"]
    if not r.sent:
        lines.append("not sent yet: no figures")
    else:
        finished = f", finished {local_text(r.finished_at, tz)}" if r.finished_at else ""
        lines.append(f"send started {local_text(r.started_at, tz)}{finished}")
    opens = (
        f"{r.opens:,} ({_rate(r.opens, r.delivered)} of delivered)"
        if r.opens is not None
        else "not tracked (NEWSLETTER_TRACK_OPENS)"
    )
    lines += [
        "",
        f"recipients    {r.recipients:,}",
        f"delivered     {r.delivered:,} ({_rate(r.delivered, r.recipients)})",
        f"failed        {r.failed:,}, unknown {r.unknown:,}, still to send {r.pending:,}",
        f"bounced       {r.bounced_hard:,} hard, {r.bounced_soft:,} soft",
        f"complaints    {r.complained:,}",
        f"unsubscribed  {r.unsubscribed:,}",
        f"opens         {opens}",
        f"clicks        {r.clicks:,} by {r.clickers:,} reader(s) "
        f"({_rate(r.clickers, r.delivered)} of delivered)",
        "",
        "reviews (section position: readers who clicked, clicks, rate over delivered)",
    ]
    for item in r.reviews:
        lines.append(
            f"  {item.section:<8} {item.position:>2}: {item.unique_clicks:>6,} "
            f"{item.clicks:>6,} {_rate(item.unique_clicks, r.delivered):>6}  {item.title}"
        )
    if not r.reviews:
        lines.append("  (none)")
    busy = [f"{h}h {n:,}" for h, n in enumerate(r.clicks_by_hour) if n]
    lines += ["", f"clicks per hour after the start (first {len(r.clicks_by_hour)} h):"]
    lines.append("  " + (", ".join(busy) if busy else "none"))
    return lines
