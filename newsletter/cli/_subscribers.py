"""Commands for subscribers: import, add, export."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import click

from newsletter.cli._app import cli, runtime
from newsletter.errors import InputError, WorkError


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
    from sqlalchemy import select

    from newsletter.db import transaction
    from newsletter.models import SubscriberStatus, Suppression
    from newsletter.sections import parse_picks
    from newsletter.subscribers.parse import (
        InvalidEmail,
        SubscriberRow,
        clean_name,
        email_hash,
        normalize_email,
    )
    from newsletter.subscribers.store import import_rows

    try:
        key = normalize_email(email)
        picks = parse_picks(categories)
    except InvalidEmail as exc:
        raise InputError(str(exc)) from exc
    except ValueError as exc:
        raise InputError(f"--categories: {exc}") from exc
    rt = runtime(ctx)
    if confirmed:
        row = SubscriberRow(0, key, clean_name(name), picks, "confirmed")
        with transaction(rt.factory) as session:
            counts = import_rows(
                session, [row], default_status=SubscriberStatus.PENDING, source="cli"
            )
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
    with rt.factory() as session:
        digest = email_hash(key)
        if session.scalar(select(Suppression.id).where(Suppression.email_hash == digest)):
            # only the person, through the sign-up page, can undo an unsubscribe or a forget
            click.echo(f"{key}: suppressed, not added")
            return
    _send_confirmation(ctx, key, name, picks)


def _send_confirmation(ctx: click.Context, email: str, name: str | None, picks: list[str]) -> None:
    from newsletter.delivery import make_transport
    from newsletter.models import utcnow
    from newsletter.subscribers.consent import Signup
    from newsletter.subscribers.signup import sign_up
    from newsletter.subscribers.tokens import Signer, load_secret

    rt = runtime(ctx)
    transport = make_transport(rt.settings)
    try:
        done = sign_up(
            rt.factory,
            rt.settings,
            Signer(load_secret(rt.settings)),
            transport,
            (email, name, picks),
            utcnow(),
            source="cli",
        )
    finally:
        transport.close()
    if done.error:
        raise WorkError(f"{email}: pending, but the confirmation was not sent: {done.error}")
    said = {
        Signup.NEW: "pending; confirmation sent",
        Signup.RESENT: "pending; confirmation sent again",
        Signup.THROTTLED: "pending; a confirmation went out less than an hour ago, not re-sent",
        Signup.ALREADY: "already confirmed",
        Signup.BLOCKED: "suppressed, not added",
    }
    click.echo(f"{email}: {said[done.result.outcome]}")


@subscribers.command("forget")
@click.argument("email")
@click.pass_context
def subscribers_forget(ctx: click.Context, email: str) -> None:
    """Erase a person's data; keep only a hashed suppression entry so they are never re-added."""
    from newsletter.db import transaction
    from newsletter.models import utcnow
    from newsletter.subscribers.parse import InvalidEmail, normalize_email
    from newsletter.subscribers.suppression import forget

    try:
        key = normalize_email(email)
    except InvalidEmail as exc:
        raise InputError(str(exc)) from exc
    with transaction(runtime(ctx).factory) as session:
        found = forget(session, key, utcnow())
    what = "data erased" if found else "nothing was stored"
    click.echo(f"{key}: {what}; suppressed by hash only from now on")


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
