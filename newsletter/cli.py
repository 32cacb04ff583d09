"""The ``newsletter`` command line (SPEC.md, "Public interface").

Exit codes: 0 success, 1 a failure of the work, 2 bad usage or bad input; errors print one line
on stderr. Commands are thin: they parse options, open the database and call the pipeline.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property, wraps
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from newsletter import __version__
from newsletter.config import Settings
from newsletter.errors import InputError, NewsletterError, NotImplementedYet

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Runtime:
    """Settings plus a lazily opened database: commands that need no database never open one."""

    settings: Settings
    _engine: Engine | None = field(default=None, repr=False)

    @cached_property
    def engine(self) -> Engine:
        from newsletter.db import make_engine

        self._engine = make_engine(self.settings)
        return self._engine

    @cached_property
    def factory(self) -> sessionmaker[Session]:
        from newsletter.db import require_schema, session_factory

        require_schema(self.engine)
        return session_factory(self.engine)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def parse_now(value: str | None) -> datetime:
    """``--now``: ISO 8601; a value without an offset is UTC."""
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InputError(f"--now {value!r}: expected ISO 8601, e.g. 2026-11-27T09:00:00Z") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def runtime(ctx: click.Context) -> Runtime:
    obj = ctx.find_object(Runtime)
    if obj is None:  # pragma: no cover - main() always sets it
        raise click.UsageError("no settings")
    return obj


def later(what: str) -> Callable[[F], F]:
    """Mark a verb whose capability lands in a later issue: it exits 1, saying so."""

    def decorate(func: F) -> F:
        @wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            raise NotImplementedYet(what)

        return wrapper  # type: ignore[return-value]

    return decorate


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="newsletter")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Weekly review digest: ingest reviews, build the issue, deliver it."""
    if ctx.obj is None:
        ctx.obj = Runtime(Settings.from_env())
    ctx.call_on_close(ctx.obj.close)


# -- demo and database ---------------------------------------------------------------------
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
@click.argument("sources", nargs=-1, required=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["rss", "atom", "wp-json", "page", "jsonl", "csv", "pageviews"]),
    default=None,
    help="Read every SOURCE in this format instead of detecting it.",
)
@click.pass_context
def ingest(ctx: click.Context, sources: tuple[str, ...], fmt: str | None) -> None:
    """Ingest reviews or page views from files (URLs: issue 3)."""
    from newsletter.ingest import ingest_sources

    rt = runtime(ctx)
    reports = ingest_sources(rt.factory, list(sources), rt.settings.site_url, fmt)
    for report in reports:
        if report.error:
            click.echo(f"error: {report.error}", err=True)
            continue
        c = report.counts
        click.echo(
            f"{report.source} ({report.format}): {c.new} new, {c.updated} updated, "
            f"{c.unchanged} unchanged, {len(report.rejections)} rejected"
        )
        for rejection in report.rejections:
            click.echo(f"  rejected {rejection}")
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


# -- subscribers ---------------------------------------------------------------------------
@cli.group()
def subscribers() -> None:
    """Subscribers: import, add, export."""


@subscribers.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--confirmed", is_flag=True, help="Consent was gathered elsewhere: import as confirmed."
)
@click.pass_context
def subscribers_import(ctx: click.Context, file: Path, confirmed: bool) -> None:
    """Import subscribers from a CSV file (email, name, categories)."""
    from newsletter.db import transaction
    from newsletter.models import SubscriberStatus
    from newsletter.subscribers.parse import parse_subscribers
    from newsletter.subscribers.store import import_rows

    try:
        data = file.read_bytes()
    except OSError as exc:
        raise InputError(f"{file}: {exc.strerror}") from exc
    parsed = parse_subscribers(data, str(file))
    status = SubscriberStatus.CONFIRMED if confirmed else SubscriberStatus.PENDING
    with transaction(runtime(ctx).factory) as session:
        counts = import_rows(
            session, parsed.accepted, default_status=status, source=f"import:{file.name}"
        )
    click.echo(
        f"{file}: {counts.accepted} accepted, {counts.updated} updated, "
        f"{counts.unchanged} unchanged, {counts.suppressed} suppressed, "
        f"{len(parsed.rejected)} rejected"
    )
    for rejection in parsed.rejected:
        click.echo(f"  rejected {rejection}")


@subscribers.command("add")
@click.argument("email")
@click.option("--name", default=None)
@click.option("--categories", default="", help="Comma-separated sections; empty means all.")
@click.option("--confirmed", is_flag=True, help="Consent was gathered elsewhere.")
@click.pass_context
def subscribers_add(
    ctx: click.Context, email: str, name: str | None, categories: str, confirmed: bool
) -> None:
    """Add (or update) one subscriber."""
    from newsletter.db import transaction
    from newsletter.models import SubscriberStatus
    from newsletter.sections import parse_picks
    from newsletter.subscribers.parse import (
        InvalidEmail,
        SubscriberRow,
        clean_name,
        normalize_email,
    )
    from newsletter.subscribers.store import import_rows

    try:
        row = SubscriberRow(
            0,
            normalize_email(email),
            clean_name(name),
            parse_picks(categories),
            "confirmed" if confirmed else None,
        )
    except InvalidEmail as exc:
        raise InputError(str(exc)) from exc
    except ValueError as exc:
        raise InputError(f"--categories: {exc}") from exc
    with transaction(runtime(ctx).factory) as session:
        counts = import_rows(session, [row], default_status=SubscriberStatus.PENDING, source="cli")
    verb = (
        "added"
        if counts.accepted
        else "updated"
        if counts.updated
        else "suppressed, not added"
        if counts.suppressed
        else "unchanged"
    )
    click.echo(f"{row.email}: {verb}")


@subscribers.command("export")
@click.pass_context
def subscribers_export(ctx: click.Context) -> None:
    """Every subscriber as CSV on stdout (cells that could run as formulas are neutralised)."""
    from sqlalchemy import select

    from newsletter.models import Subscriber
    from newsletter.sections import sections_of

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["email", "name", "categories", "status", "created_at", "confirmed_at"])
    with runtime(ctx).factory() as session:
        for s in session.scalars(select(Subscriber).order_by(Subscriber.id)):
            writer.writerow(
                [
                    _cell(s.email),
                    _cell(s.name or ""),
                    ";".join(sections_of(s.category_mask)),
                    s.status.value,
                    s.created_at.isoformat(),
                    s.confirmed_at.isoformat() if s.confirmed_at else "",
                ]
            )
    click.echo(buffer.getvalue(), nl=False)


def _cell(value: str) -> str:
    """OWASP CSV injection: a cell starting with = + - @ (or tab, CR) gets a leading quote."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


# -- issues -----------------------------------------------------------------------------------
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
@click.option("--to", "to", multiple=True, required=True)
@later("issue test-send")
def issue_test_send(issue_id: int, to: tuple[str, ...]) -> None:
    """Send test copies (marked as tests) to chosen addresses."""


@issue.command("send")
@click.argument("issue_id", type=int)
@click.option("--at", "at", default=None, help="Send at this time instead of now (ISO 8601).")
@click.pass_context
def issue_send(ctx: click.Context, issue_id: int, at: str | None) -> None:
    """Send a draft to every eligible subscriber (through workers when a broker is set)."""
    from newsletter.delivery.fanout import send_issue
    from newsletter.delivery.runner import dispatcher_for

    if at is not None:
        raise NotImplementedYet("issue send --at")
    from newsletter.delivery.progress import issue_progress

    rt = runtime(ctx)
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
        when = progress.next_retry_at.strftime("%Y-%m-%d %H:%M")
        click.echo(
            f"some messages wait for a retry, the first at {when} UTC: "
            f"run 'newsletter issue send {issue_id}' again after that"
        )


@issue.command("status")
@click.argument("issue_id", type=int)
@click.option("--follow", is_flag=True, help="Keep watching with a progress bar.")
@click.pass_context
def issue_status(ctx: click.Context, issue_id: int, follow: bool) -> None:
    """Counts of deliveries by state."""
    from newsletter.delivery.progress import issue_progress

    if follow:
        raise NotImplementedYet("issue status --follow")
    with runtime(ctx).factory() as session:
        progress = issue_progress(session, issue_id)
    click.echo(f"issue {issue_id} ({progress.week_key}): {progress.status}")
    for state, count in progress.counts.items():
        click.echo(f"  {state:<10} {count}")


for _verb in ("pause", "resume", "cancel"):

    def _make(verb: str) -> None:
        @issue.command(verb, help=f"{verb.capitalize()} the sending of an issue.")
        @click.argument("issue_id", type=int)
        @later(f"issue {verb}")
        def _command(issue_id: int) -> None: ...

    _make(_verb)


@cli.command()
@click.option("--now", "now_text", default=None, help="Pretend it is this time (ISO 8601).")
@later("weekly")
def weekly(now_text: str | None) -> None:
    """The scheduled job: ingest sources, build this week's issue, send it on time."""


@cli.command()
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=8000, type=int)
@later("serve")
def serve(host: str, port: int) -> None:
    """The web app: subscriber pages, click redirects, editor and operator pages."""


def main(argv: list[str] | None = None) -> int:
    """Entry point: one-line errors on stderr and the SPEC's exit codes."""
    try:
        code = cli.main(args=argv, prog_name="newsletter", standalone_mode=False)
    except NewsletterError as exc:
        click.echo(f"newsletter: error: {exc}", err=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.Abort:
        click.echo("newsletter: aborted", err=True)
        return 1
    except click.exceptions.NoArgsIsHelpError as exc:
        exc.show()  # "newsletter" alone: the help text
        return 2
    except click.ClickException as exc:
        click.echo(f"newsletter: error: {exc.format_message()}", err=True)
        return 2
    # Without standalone mode, click returns ctx.exit()'s code instead of raising it.
    return code if isinstance(code, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
