"""``newsletter issue check ID``: the pre-flight check, each finding with its fix.

Exit 0 when nothing blocks the send (warnings and notes are printed), 1 when the check found
an error: a scheduled send of the issue waits until it passes (NEWSLETTER_PREFLIGHT=block).
"""

from __future__ import annotations

import json
from dataclasses import asdict

import click

from newsletter.cli._app import runtime, services
from newsletter.cli._issues import issue
from newsletter.localtime import local_text

SHOWN = 5  # details shown per finding without --verbose


@issue.command("check")
@click.argument("issue_id", type=int)
@click.option("--notes/--no-notes", default=True, help="Show what passed, too.")
@click.option("--verbose", is_flag=True, help=f"Every detail (default: the first {SHOWN}).")
@click.option("--json", "as_json", is_flag=True, help="The report as JSON (for scripts).")
@click.pass_context
def issue_check(
    ctx: click.Context, issue_id: int, notes: bool, verbose: bool, as_json: bool
) -> None:
    """Pre-flight: size against Gmail's clip, long lines, alt text, https; every link and
    image answers; SpamAssassin; DKIM against DNS; SPF and DMARC; one-click unsubscribe.
    Exits 1 on an error, which also holds a scheduled send of the issue."""
    from newsletter.services import issues

    report = issues.check(services(ctx), issue_id)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "issue_id": report.issue_id,
                    "version": report.version,
                    "checked_at": report.checked_at.isoformat(),
                    "passed": report.passed,
                    "findings": [asdict(f) for f in report.findings],
                },
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        zone = runtime(ctx).settings.timezone
        verdict = "passes" if report.passed else "has errors: a scheduled send waits for a fix"
        click.echo(
            f"issue {issue_id}, checked {local_text(report.checked_at, zone)}: "
            f"{report.summary()}; it {verdict}"
        )
        for finding in report.findings:
            if finding.severity == "note" and not notes:
                continue
            click.echo(finding.line())
            if finding.fix:
                click.echo(f"{'':20}fix: {finding.fix}")
            shown = finding.details if verbose else finding.details[:SHOWN]
            for detail in shown:
                click.echo(f"{'':20}{detail}")
            if len(shown) < len(finding.details):
                click.echo(f"{'':20}... and {len(finding.details) - len(shown)} more (--verbose)")
    if not report.passed:
        raise click.exceptions.Exit(1)
