"""Commands for subscribers: import, add, export, forget."""

from __future__ import annotations

import io
from pathlib import Path

import click

from newsletter.cli._app import cli, services
from newsletter.errors import InputError, WorkError

SAID = {  # what each sign-up outcome (newsletter.services.Signup) means here
    "new": "pending; confirmation sent",
    "resent": "pending; confirmation sent again",
    "throttled": "pending; a confirmation went out less than an hour ago, not re-sent",
    "already": "already confirmed",
    "blocked": "suppressed, not added",
}


@cli.group()
def subscribers() -> None:
    """Subscribers: import, add, export, forget."""


@subscribers.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--confirmed", is_flag=True, help="Consent was gathered elsewhere: import as confirmed."
)
@click.pass_context
def subscribers_import(ctx: click.Context, file: Path, confirmed: bool) -> None:
    """Import subscribers from a CSV file (email, name, categories, status).

    Everyone is imported pending unless --confirmed. A status column can keep a row pending
    or say an address left (unsubscribed, bounced, complained: it is suppressed); it never
    confirms anyone by itself. A file that cannot be read to its end imports nothing."""

    from newsletter.services import subscribers as people

    try:
        data = file.read_bytes()
    except OSError as exc:
        raise InputError(f"{file}: {exc.strerror}") from exc
    done = people.import_csv(services(ctx), data, str(file), confirmed=confirmed)
    counts, parsed = done.counts, done.parsed
    click.echo(
        f"{file}: {counts.accepted} accepted, {counts.updated} updated, "
        f"{counts.unchanged} unchanged, {counts.suppressed} suppressed, "
        f"{len(parsed.rejected)} rejected"
    )
    if counts.held_pending:
        click.echo(
            f"  {counts.held_pending} marked confirmed in the file were imported as pending: "
            "a file is not consent (pass --confirmed if it was gathered elsewhere)"
        )
    for rejection in parsed.rejected:
        click.echo(f"  rejected {rejection}")


@subscribers.command("add")
@click.argument("email")
@click.option("--name", default=None)
@click.option("--categories", default="", help="Comma-separated sections; empty means all.")
@click.option(
    "--confirmed",
    is_flag=True,
    help="Consent was gathered elsewhere: add as confirmed, send nothing.",
)
@click.pass_context
def subscribers_add(
    ctx: click.Context, email: str, name: str | None, categories: str, confirmed: bool
) -> None:
    """Sign up one address: a confirmation link is mailed (double opt-in), and the
    subscription starts when it is followed. With --confirmed, add it as confirmed."""
    from newsletter.services import Channel
    from newsletter.services import subscribers as people

    if confirmed:
        key, counts = people.add_confirmed(services(ctx), email, name, categories)
        verb = (
            "added"
            if counts.accepted
            else "updated"
            if counts.updated
            else "suppressed, not added"
            if counts.suppressed
            else "unchanged"
        )
        click.echo(f"{key}: {verb}")
        return
    done = people.sign_up(
        services(ctx), email, name, categories, source="cli", channel=Channel.OPERATOR
    )
    address = done.result.email
    if done.handed.error:
        raise WorkError(
            f"{address}: pending, but the confirmation was not sent: {done.handed.error}"
        )
    said = SAID[done.result.outcome.value]
    if done.handed.queued:
        said = said.replace("confirmation sent", "confirmation queued for a worker")
    click.echo(f"{address}: {said}")


@subscribers.command("forget")
@click.argument("email")
@click.pass_context
def subscribers_forget(ctx: click.Context, email: str) -> None:
    """Erase a person's data; keep only a hashed suppression entry so they are never re-added."""
    from newsletter.services import subscribers as people

    key, found = people.forget(services(ctx), email)
    what = "data erased" if found else "nothing was stored"
    click.echo(f"{key}: {what}; suppressed by hash only from now on")


@subscribers.command("export")
@click.pass_context
def subscribers_export(ctx: click.Context) -> None:
    """Every subscriber as CSV on stdout (cells that could run as formulas are neutralised)."""

    from newsletter.services import subscribers as people

    buffer = io.StringIO()
    people.export_csv(services(ctx), buffer)
    click.echo(buffer.getvalue(), nl=False)
