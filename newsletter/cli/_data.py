"""Commands for the embedded demo, the schema, ingest and stored reviews."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import click

from newsletter.cli._app import cli, parse_now, runtime


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
    from newsletter.demo import run_demo

    settings = runtime(ctx).settings
    folder = data_dir or settings.data_dir
    settings = settings.with_overrides(
        data_dir=folder,
        database_url=f"sqlite:///{folder / 'newsletter.db'}",
        smtp_url=None,
        broker_url=None,
    )
    summary = run_demo(settings, sample=sample_dir, now=parse_now(now_text))
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
    from newsletter.db import current_revision, upgrade

    engine = runtime(ctx).engine
    upgrade(engine)
    click.echo(f"database at revision {current_revision(engine)}")


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
    304. Exit 2 when a whole source failed (the others still land).
    """
    from newsletter.errors import InputError
    from newsletter.ingest import Fetcher, fetch_policy, ingest_sources

    rt = runtime(ctx)
    settings = rt.settings
    chosen = list(sources) or list(settings.sources)
    if not chosen:
        raise InputError("no sources: pass SOURCE... or set NEWSLETTER_SOURCES")
    policy = fetch_policy(settings.site_url, settings.fetch_timeout, settings.fetch_max_bytes)
    with Fetcher(policy) as fetcher:
        reports = ingest_sources(rt.factory, chosen, settings.site_url, fmt, fetcher)
    for report in reports:
        if report.error:
            click.echo(f"error: {report.error}", err=True)
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


@cli.group()
def reviews() -> None:
    """Stored reviews."""


@reviews.command("export")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl")
@click.pass_context
def reviews_export(ctx: click.Context, fmt: str) -> None:
    """Every stored review in the canonical flat form, on stdout."""
    from sqlalchemy import select

    from newsletter.ingest.exports import COLUMNS, to_row
    from newsletter.ingest.records import ReviewRecord
    from newsletter.models import Review

    out = sys.stdout
    writer = csv.DictWriter(out, COLUMNS, lineterminator="\r\n") if fmt == "csv" else None
    if writer:
        writer.writeheader()
    with runtime(ctx).factory() as session:
        for r in session.scalars(select(Review).order_by(Review.published_at, Review.id)):
            row = to_row(
                ReviewRecord(
                    r.url,
                    r.title,
                    r.category,
                    r.author,
                    r.published_at,
                    r.updated_at,
                    r.score,
                    r.score_max,
                    r.tldr,
                    r.excerpt,
                    r.image_url,
                    r.is_review,
                )
            )
            if writer:
                writer.writerow({k: "" if v is None else v for k, v in row.items()})
            else:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
