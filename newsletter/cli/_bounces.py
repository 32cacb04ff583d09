"""``newsletter bounces process SOURCE``: read bounce and complaint reports, and unsubscribe
requests by mail, and apply them."""

from __future__ import annotations

from pathlib import Path

import click

from newsletter.cli._app import cli, services


@cli.group()
def bounces() -> None:
    """Bounces and complaints: process a mailbox of reports."""


@bounces.command("process")
@click.argument("source")
@click.option(
    "--aside",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder for reports that were not applied (default: DATA_DIR/bounces/aside).",
)
@click.option(
    "--delete",
    is_flag=True,
    help="Remove each message from SOURCE once its outcome is committed.",
)
@click.pass_context
def bounces_process(ctx: click.Context, source: str, aside: Path | None, delete: bool) -> None:
    """Apply the bounces (RFC 3464), complaints (RFC 5965) and unsubscribe requests by
    mail (the List-Unsubscribe mailto, NEWSLETTER_UNSUBSCRIBE_ADDRESS) in SOURCE.

    SOURCE is a maildir folder, an mbox file, an imap(s):// URL, or "imap" for
    NEWSLETTER_BOUNCE_IMAP_URL. Each report is applied once, however often it is read;
    on IMAP, processed messages are flagged and not fetched again.
    """
    from newsletter.services import feedback

    done = feedback.process_bounces(services(ctx), source, aside=aside, delete=delete)
    click.echo(f"{done.mailbox}: {done.run.summary()}")
    if done.run.aside:
        click.echo(f"  {len(done.run.aside)} not applied, kept in {done.aside}")
