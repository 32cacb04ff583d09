"""Commands for the embedded demo, the schema, ingest, stored reviews and the settings."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from newsletter.cli._app import cli, parse_now, runtime, services
from newsletter.config import describe_settings, settings_table


@cli.command()
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder for the database and outbox (default: NEWSLETTER_DATA_DIR).",
)
@click.option(
    "--sample-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Use these sample files instead of the shipped ones.",
)
@click.option("--now", "now_text", default=None, help="Pretend it is this time (ISO 8601).")
@click.pass_context
def demo(
    ctx: click.Context, data_dir: Path | None, sample_dir: Path | None, now_text: str | None
) -> None:
    """Run the weekly job on the embedded default: SQLite, sample data, outbox delivery."""
    from newsletter.services import jobs

    settings, summary = jobs.demo(
        runtime(ctx).settings,
        data_dir=data_dir,
        sample=sample_dir,
        now=parse_now(now_text, runtime(ctx).settings.timezone),
    )
    click.echo(f"Issue {summary.issue_id} ({summary.week_key}): {summary.subject}")
    click.echo(f"  reviews: {summary.new} new this week, {summary.trending} trending")
    if summary.delivered_now:
        click.echo(
            f"  delivered: {summary.delivered_now} messages to the outbox "
            f"({summary.recipients} recipients in all)"
        )
    else:
        click.echo(f"  delivered: nothing new ({summary.already_delivered} already delivered)")
    click.echo(f"  look at: {summary.index}")
    click.echo(f"           {summary.outbox}/*.eml")
    if settings.track_clicks:
        click.echo(
            f"  links go through the click redirect at {settings.base_url}: run "
            "'newsletter serve' to follow them (NEWSLETTER_TRACK_CLICKS=false for plain links)"
        )


@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Create or migrate the schema (Alembic)."""
    from newsletter.services import setup

    revision = setup.upgrade_schema(runtime(ctx).engine)
    click.echo(f"database at revision {revision}")


@cli.command("settings")
@click.option("--markdown", is_flag=True, help="As the README's table.")
def settings_command(markdown: bool) -> None:
    """Every NEWSLETTER_* setting: its default and what it does."""
    click.echo(settings_table() if markdown else describe_settings(), nl=False)


# -- ingest and reviews -----------------------------------------------------------------------
@cli.command()
@click.argument("sources", nargs=-1)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["rss", "atom", "wp-json", "page", "jsonl", "csv", "pageviews"]),
    default=None,
    help="Read every SOURCE in this format instead of detecting it.",
)
@click.pass_context
def ingest(ctx: click.Context, sources: tuple[str, ...], fmt: str | None) -> None:
    """Ingest reviews or page views from files and URLs (default: NEWSLETTER_SOURCES).

    Each SOURCE lands completely or not at all; a URL unchanged since the last run costs a
    304. A source that fails (unusable, unreachable, nothing in it usable) is one line on
    stderr and stores nothing; the others still land. Exit 1 when any source failed.
    """
    from newsletter.services import reviews

    chosen = reviews.sources_to_ingest(runtime(ctx).settings, list(sources))
    reports = reviews.ingest(services(ctx), chosen, fmt)
    for report in reports:
        if report.error:
            hint = " (--format names it)" if "format" in report.error else ""
            click.echo(f"error: {report.error}{hint}", err=True)
            for rejection in report.rejections:
                click.echo(f"  rejected {rejection}", err=True)
            for note in report.notes:  # "moved permanently to ...": often why it failed
                click.echo(f"  note: {note}", err=True)
            continue
        c = report.counts
        state = "not modified, " if report.not_modified else ""
        click.echo(
            f"{report.source} ({report.format}): {state}{c.new} new, {c.updated} updated, "
            f"{c.unchanged} unchanged, {len(report.rejections)} rejected"
        )
        for rejection in report.rejections:
            click.echo(f"  rejected {rejection}")
        for note in report.notes:
            click.echo(f"  note: {note}")
    code = max(r.exit_code for r in reports)
    if code:
        ctx.exit(code)


@cli.group("reviews")
def reviews_group() -> None:
    """Stored reviews."""


@reviews_group.command("export")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl")
@click.pass_context
def reviews_export(ctx: click.Context, fmt: str) -> None:
    """Every stored review in the canonical flat form, on stdout."""
    from newsletter.services import reviews

    reviews.export(services(ctx), fmt, sys.stdout)
